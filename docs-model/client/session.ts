// A browser (or Node) session with a Homeroom server: one WebSocket shared by every open
// document, an IndexedDB copy of each document for offline work, the same write rules as the
// server's guard, and recovery when the server refuses a change.
import { deniesAccess } from '../refusals.ts'
import { HocuspocusProvider, HocuspocusProviderWebsocket } from '@hocuspocus/provider'
import { IndexeddbPersistence } from 'y-indexeddb'
import * as Y from 'yjs'
import { resolve } from '../registry.ts'
import { canWrite, writeContext } from '../rules.ts'
import type { DocRef, Facts, Identity, Op, Surface } from '../types.ts'
import { Emitter } from './emitter.ts'
import { identityFromToken } from './identity.ts'

/** What a connection indicator shows. */
export type ConnectionState = 'online' | 'syncing' | 'offline'

export interface SessionOptions {
  /** The server's WebSocket URL, e.g. `ws://localhost:8400`. */
  url: string
  token: string
  /** Keep a copy of every document in IndexedDB so it opens and edits offline. Default: true where IndexedDB exists. */
  offline?: boolean
  /** A WebSocket class where there is no global one (Node 20). */
  WebSocketPolyfill?: unknown
}

/** A change the server did not accept, after the local copy was replaced by the server's. */
export interface Recovery {
  /** The server's reason, e.g. `frozen: exam closed` or `forbidden-write: ballot/choice`. */
  reason: string
  /** Paths (`root/key`) where the discarded local copy differed from the server's. */
  notAccepted: string[]
}

/** Thrown by `write` when the rules do not let this user write there; nothing is sent. */
export class NotAllowed extends Error {
  readonly path: string
  constructor(path: string) {
    super(`not allowed: ${path}`)
    this.path = path
  }
}

/** Reasons after which the server never accepts the change the client holds: reload from the server. */
const REJECTED = /^(forbidden-write|frozen|too-large|bad-message)\b/
/** Reasons after which retrying the same change later is fine. */
const RETRY = /^rate-limited\b/


interface HandleEvents extends Record<string, unknown> {
  /** Any change to the document, local or remote (also after a recovery). */
  change: void
  /** The server refused to open the document; the local copy was dropped. */
  refused: string
  /** The server refused a change; the local copy was replaced with the server's. */
  recovered: Recovery
  synced: void
}

/** One open document. `doc` is replaced by a fresh copy after a recovery: read it each time. */
export class Handle extends Emitter<HandleEvents> {
  readonly session: Session
  readonly name: string
  readonly ref: DocRef
  readonly surface: Surface
  doc!: Y.Doc
  provider!: HocuspocusProvider
  /** The opening refusal, once the server refused. */
  refused?: string
  /** True once the current copy has synced with the server (at least once). */
  synced = false
  /** Resolves once the document has content to show: from IndexedDB or from the server. */
  ready!: Promise<void>
  private local?: IndexeddbPersistence
  private recovering = false
  private closed = false

  constructor(session: Session, name: string) {
    super()
    this.session = session
    this.name = name
    const { ref, surface } = resolve(name)
    this.ref = ref
    this.surface = surface
    this.connect(new Y.Doc())
  }

  /** May the user write at `path` (`ballot/choice`, `comments/u1:c9`)? The same rules the server's guard applies. */
  canWrite(path: string, op: Op = 'insert'): boolean {
    if (this.refused || this.provider.authorizedScope === 'readonly') return false
    return canWrite(this.surface, path, writeContext(this.session.user, this.ref, this.doc, this.session.facts), op)
  }

  /** Checks the rule for `path`, then applies `change` in one transaction. */
  write(path: string, change: (doc: Y.Doc) => void, op: Op = 'insert'): void {
    if (!this.canWrite(path, op)) throw new NotAllowed(`${this.name}/${path}`)
    this.doc.transact(() => change(this.doc))
  }

  get awareness() {
    return this.provider.awareness!
  }

  /** True while changes wait for the server's acknowledgement. */
  get pending(): boolean {
    return this.provider.hasUnsyncedChanges
  }

  close(): void {
    this.closed = true
    this.provider.destroy()
    void this.local?.destroy()
    this.doc.destroy()
    this.clearListeners()
  }

  private connect(doc: Y.Doc): void {
    if (this.doc !== doc) doc.on('update', () => this.emit('change', undefined))
    this.doc = doc
    this.synced = false
    let loaded!: () => void
    this.ready = new Promise((resolve) => (loaded = resolve))
    if (this.session.offline) {
      this.local = new IndexeddbPersistence(this.session.storageKey(this.name), doc)
      void this.local.whenSynced.then(() => {
        if (doc.store.clients.size > 0) loaded()
      })
    }
    this.provider = new HocuspocusProvider({
      websocketProvider: this.session.socket,
      name: this.name,
      document: doc,
      token: this.session.token,
      // Each copy gets its own address (`name\0session`). After the server closed a copy's
      // connection, frames of that copy still in flight would otherwise be taken by the server as
      // the start of the next copy's connection, and refuse or close it again.
      sessionAwareness: true,
      onSynced: () => {
        this.synced = true
        loaded()
        this.emit('synced', undefined)
        this.session.changed()
      },
      onAuthenticationFailed: ({ reason }) => void this.refuse(reason),
      onClose: ({ event }) => {
        if (this.recovering || this.provider.document !== doc) return
        if (REJECTED.test(event.reason)) void this.recover(event.reason)
        else if (RETRY.test(event.reason)) setTimeout(() => this.reopen(), 1000)
      },
      onUnsyncedChanges: () => this.session.changed(),
    })
    // The provider would send the IndexedDB copy, replayed into the document, as a fresh change
    // (which a read-only connection never gets acknowledged). So it attaches once the copy is
    // loaded; the sync handshake then sends the server only what it lacks.
    const provider = this.provider
    if (!this.local) provider.attach()
    else void this.local.whenSynced.then(() => this.provider === provider && !this.closed && provider.attach())
  }

  /** Opens the document again on the same copy: local changes are sent again. */
  private reopen(): void {
    if (this.recovering || this.refused) return
    const doc = this.doc
    this.provider.destroy()
    void this.local?.destroy()
    this.connect(doc)
  }

  private async refuse(reason: string): Promise<void> {
    this.refused = reason
    this.provider.destroy()
    // Only a lasting denial drops the local copy: after an expired token, a limit or a store
    // briefly down, it may hold work the server has never seen, kept for the next opening.
    if (deniesAccess(reason)) await this.local?.clearData()
    else await this.local?.destroy()
    this.emit('refused', reason)
    this.session.changed()
  }

  /** Drops the local copy (memory and IndexedDB), reloads from the server and reports what was lost. */
  private async recover(reason: string): Promise<void> {
    this.recovering = true
    const old = this.doc
    const before = this.surface.decode(old)
    this.provider.destroy()
    await this.local?.clearData()
    this.connect(new Y.Doc())
    this.recovering = false
    await new Promise<void>((resolve) => {
      if (this.synced) return resolve()
      const off = this.on('synced', () => {
        off()
        resolve()
      })
    })
    const notAccepted = differingPaths(before, this.surface.decode(this.doc))
    old.destroy()
    this.emit('recovered', { reason, notAccepted })
    this.emit('change', undefined)
  }
}

interface SessionEvents extends Record<string, unknown> {
  state: ConnectionState
}

export class Session extends Emitter<SessionEvents> {
  readonly user: Identity
  readonly token: string
  readonly socket: HocuspocusProviderWebsocket
  readonly offline: boolean
  /** Facts the write rules consult: the client's copies of related documents (a ballot's poll). */
  readonly facts: Facts
  private readonly handles = new Map<string, Handle>()
  private lastState?: ConnectionState

  constructor(options: SessionOptions) {
    super()
    this.token = options.token
    this.user = identityFromToken(options.token)
    this.offline = options.offline ?? typeof indexedDB !== 'undefined'
    this.socket = new HocuspocusProviderWebsocket({
      url: options.url,
      WebSocketPolyfill: options.WebSocketPolyfill as typeof WebSocket | undefined,
      // Come back quickly after a network outage; the server copes with the reconnects.
      maxDelay: 2000,
      // Attaching a provider to a socket that has not started connecting starts another
      // connection attempt, which replaces the first socket a moment later (dropping presence).
      // So the documents opened right away attach first and the socket connects once, after them.
      autoConnect: false,
      onStatus: () => this.changed(),
    })
    queueMicrotask(() => void this.socket.connect())
    this.facts = { frozen: () => null, related: (name) => this.handles.get(name)?.doc }
    // A socket can look open long after the network is gone; the browser knows sooner.
    globalThis.addEventListener?.('offline', this.goOffline)
    globalThis.addEventListener?.('online', this.goOnline)
  }

  private readonly goOffline = () => this.socket.disconnect()
  private readonly goOnline = () => void this.socket.connect()

  /** Opens (or returns the already open) document by its full name. */
  open(name: string): Handle {
    let handle = this.handles.get(name)
    if (!handle) {
      handle = new Handle(this, name)
      this.handles.set(name, handle)
    }
    return handle
  }

  state(): ConnectionState {
    if (this.socket.status !== 'connected') return 'offline'
    for (const handle of this.handles.values()) if (!handle.refused && (!handle.provider.synced || handle.pending)) return 'syncing'
    return 'online'
  }

  /** The IndexedDB database of a document, per user so two users of one browser never share copies. */
  storageKey(name: string): string {
    return `homeroom:${this.user.sub}:${name}`
  }

  /** Re-evaluates the connection state; handles call it when theirs changes. */
  changed(): void {
    const state = this.state()
    if (state === this.lastState) return
    this.lastState = state
    this.emit('state', state)
  }

  destroy(): void {
    globalThis.removeEventListener?.('offline', this.goOffline)
    globalThis.removeEventListener?.('online', this.goOnline)
    for (const handle of this.handles.values()) handle.close()
    this.handles.clear()
    this.socket.destroy()
    this.clearListeners()
  }
}

/** Paths (`root/key`) at which two decoded documents differ. */
export function differingPaths(before: unknown, after: unknown, prefix = '', depth = 0): string[] {
  const same = JSON.stringify(before) === JSON.stringify(after)
  if (same) return []
  const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v)
  if (depth >= 2 || !isObject(before) || !isObject(after)) return [prefix || '/']
  const keys = new Set([...Object.keys(before), ...Object.keys(after)])
  return [...keys].flatMap((key) => differingPaths(before[key], after[key], prefix ? `${prefix}/${key}` : key, depth + 1))
}
