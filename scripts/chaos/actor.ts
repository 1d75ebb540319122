// One user of the chaos run: a real Hocuspocus provider socket through the load balancer (so
// every reconnect may land on another instance), one Y.Doc per document kept for the whole run
// (a reconnect sends again whatever the server has not acknowledged), and for each document the
// clock of the user's own Yjs client up to which the server acknowledged everything.
import { HocuspocusProvider, HocuspocusProviderWebsocket } from '@hocuspocus/provider'
import WebSocket from 'ws'
import * as Y from 'yjs'
import type { Claims } from '../../server/identity.ts'
import { mintToken } from '../../test/helpers/tokens.ts'

/** Reasons after which opening the same copy again later is right (the store or a limit recovers). */
const RETRY = /^(unavailable|rate-limited|full|limit|forbidden: too many opening attempts|Connection Timeout)\b/
const REOPEN_MS = 500

/**
 * A socket that always has an error listener: the provider gives up a connection attempt that
 * timed out by closing it while it is still connecting and removing its own listeners first, and
 * `ws` then emits 'error' with nobody listening, which would crash the run.
 */
class ListenedWebSocket extends WebSocket {
  constructor(...args: ConstructorParameters<typeof WebSocket>) {
    super(...args)
    this.on('error', () => {})
  }
}

export interface Copy {
  user: string
  name: string
  doc: Y.Doc
  provider: HocuspocusProvider
  /** Own structs below this clock were acknowledged by the server. */
  acked: number
  /** Synced at least once since (re)opened. */
  synced: boolean
  /** Refusals the run did not expect (the copy then stays as it is). */
  refusals: string[]
  /** Closes and reopens after `unavailable` and other passing refusals. */
  retries: number
}

export class Actor {
  readonly claims: Claims
  readonly copies = new Map<string, Copy>()
  private socket!: HocuspocusProviderWebsocket
  private token = ''
  private closed = false

  constructor(claims: Claims) {
    this.claims = claims
  }

  get sub(): string {
    return this.claims.sub
  }

  async connect(url: string): Promise<void> {
    this.token = await mintToken(this.claims, { ttl: '4h' })
    // Unlimited reconnects, quickly; a socket silent for 4 s (a paused instance) is given up.
    this.socket = new HocuspocusProviderWebsocket({ url, WebSocketPolyfill: ListenedWebSocket, autoConnect: false, minDelay: 200, maxDelay: 1000, messageReconnectTimeout: 4000 })
  }

  /** Opens `name` (once) and resolves when it first synced. */
  open(name: string): Promise<Copy> {
    const existing = this.copies.get(name)
    if (existing) return this.synced(existing)
    const copy: Copy = { user: this.sub, name, doc: new Y.Doc(), provider: undefined!, acked: 0, synced: false, refusals: [], retries: 0 }
    this.copies.set(name, copy)
    this.attach(copy)
    if (this.socket.status === 'disconnected' && this.socket.shouldConnect === false) void this.socket.connect()
    return this.synced(copy)
  }

  /** Applies `change` to the copy in one transaction; the provider sends it. */
  write(name: string, change: (doc: Y.Doc) => void): void {
    const copy = this.copies.get(name)
    if (!copy) throw new Error(`${this.sub} writes ${name} before opening it`)
    copy.doc.transact(() => change(copy.doc))
  }

  /** True once the server acknowledged every change made to the copy. */
  settled(name: string): boolean {
    const copy = this.copies.get(name)!
    return copy.synced && !copy.provider.hasUnsyncedChanges && copy.acked === ownClock(copy.doc)
  }

  /** The socket drops (as a train enters a tunnel, no close handshake); the provider reconnects through the balancer. */
  drop(): void {
    const ws = (this.socket as unknown as { webSocket: WebSocket | null }).webSocket
    if (ws?.readyState === WebSocket.OPEN) ws.terminate()
  }

  close(): void {
    this.closed = true
    for (const copy of this.copies.values()) copy.provider.destroy()
    this.socket.destroy()
  }

  private synced(copy: Copy): Promise<Copy> {
    return new Promise((resolve) => {
      const check = () => {
        if (!copy.synced && copy.refusals.length === 0) return
        clearInterval(timer)
        resolve(copy)
      }
      const timer = setInterval(check, 20)
      check()
    })
  }

  private attach(copy: Copy): void {
    const provider = new HocuspocusProvider({
      websocketProvider: this.socket,
      name: copy.name,
      document: copy.doc,
      token: this.token,
      sessionAwareness: true,
      onSynced: () => {
        if (copy.provider !== provider) return
        copy.synced = true
        this.acknowledge(copy)
      },
      onUnsyncedChanges: () => copy.provider === provider && this.acknowledge(copy),
      onAuthenticationFailed: ({ reason }) => this.refused(copy, provider, reason),
      // The server closing this document (not the socket: that reconnects by itself) comes as a plain {code, reason}.
      onClose: ({ event }) => {
        if (!('target' in event) && event.reason) this.refused(copy, provider, event.reason)
      },
    })
    copy.provider = provider
    provider.attach()
  }

  private acknowledge(copy: Copy): void {
    if (copy.synced && !copy.provider.hasUnsyncedChanges) copy.acked = Math.max(copy.acked, ownClock(copy.doc))
  }

  private refused(copy: Copy, provider: HocuspocusProvider, reason: string): void {
    if (copy.provider !== provider || this.closed) return
    if (!RETRY.test(reason)) {
      copy.refusals.push(reason)
      return
    }
    copy.retries++
    copy.synced = false
    setTimeout(() => {
      if (this.closed || copy.provider !== provider) return
      provider.destroy()
      this.attach(copy)
    }, REOPEN_MS)
  }
}

/** How many structs the copy's own Yjs client has made. */
export function ownClock(doc: Y.Doc): number {
  return Y.decodeStateVector(Y.encodeStateVector(doc)).get(doc.clientID) ?? 0
}
