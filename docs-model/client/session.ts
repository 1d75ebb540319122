// A browser (or Node) session with a Homeroom server: one WebSocket shared by every open
// document, an IndexedDB copy of each document for offline work, the same write rules as the
// server's guard, and recovery when the server refuses a change. A copy that holds changes the
// server has not acknowledged is never dropped by a refusal: only by the app (`discard`).
import { deniesAccess, unknownRootOf } from '../refusals.ts'
import { HocuspocusProvider, HocuspocusProviderWebsocket } from '@hocuspocus/provider'
import { IndexeddbPersistence } from 'y-indexeddb'
import * as Y from 'yjs'
import { resolve } from '../registry.ts'
import { withDevice, type DeviceKind } from '../device.ts'
import { canWrite, writeContext } from '../rules.ts'
import type { DocRef, Facts, Identity, Op, Surface } from '../types.ts'
import { Emitter } from './emitter.ts'
import { identityFromToken } from './identity.ts'
import { Acknowledgement } from './pending.ts'
import { readClockMessage } from '../clock-message.ts'

/** What a connection indicator shows; `refused`: the server refused a document that holds unacknowledged changes. */
export type ConnectionState = 'online' | 'syncing' | 'offline' | 'refused'

/** A token, or a function returning one: called before every (re)connect and after the server answers `unauthenticated`. */
export type TokenSource = string | (() => string | Promise<string>)

export interface SessionOptions {
  /** The server's WebSocket URL, e.g. `ws://localhost:8400`. */
  url: string
  token: TokenSource
  /** Keep a copy of every document in IndexedDB so it opens and edits offline. Default: true where IndexedDB exists. */
  offline?: boolean
  /** A WebSocket class where there is no global one (Node 20). */
  WebSocketPolyfill?: unknown
  /** The kind of device, reported with the connection for statistics (never trusted for rules). */
  device?: DeviceKind
}

/** The server refused a document; the local copy is kept as long as it holds unacknowledged changes. */
export interface Refusal {
  /** The server's reason, e.g. `forbidden: not a member` or `forbidden-write: default (doc/:id has body, comments, meta)`. */
  reason: string
  /** Paths (`root/key`) of the changes the server has not acknowledged, still held by the copy (`exportPending()` has them). */
  pending: string[]
}

/** A change the server did not accept, after the local copy was replaced by the server's. */
export interface Recovery {
  /** The server's reason, e.g. `frozen: exam closed` or `forbidden-write: ballot/choice`. */
  reason: string
  /** Paths (`root/key`) where the discarded local copy differed from the server's. */
  notAccepted: string[]
  /** The discarded unacknowledged changes as a Yjs update, for the app to save or show. */
  dropped: Uint8Array
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
/** Reasons after which retrying the same change later is fine (after `unavailable`, the reopening's sync sends what the server lacked). */
const RETRY = /^(rate-limited|unavailable)\b/
/** Where the acknowledgement record is kept in a document's IndexedDB database. */
const ACKNOWLEDGED_KEY = 'homeroom:acknowledged'
const MAX_RETRY_MS = 30_000

interface HandleEvents extends Record<string, unknown> {
  /** Any change to the document, local or remote (also after a recovery). */
  change: void
  /** The server refused the document; the copy is kept while it holds unacknowledged changes. */
  refused: Refusal
  /** The server refused a change; the local copy was replaced with the server's. */
  recovered: Recovery
  synced: void
}

/** One open document. `doc` is replaced by a fresh copy after a recovery or `discard()`: read it each time. */
export class Handle extends Emitter<HandleEvents> {
  readonly session: Session
  readonly name: string
  readonly ref: DocRef
  readonly surface: Surface
  doc: Y.Doc
  provider?: HocuspocusProvider
  /** The refusal, while the server refuses the document (until `discard()` or `session.reconnect()`). */
  refusal?: Refusal
  /** True once the current copy has synced with the server (at least once). */
  synced = false
  /** Resolves once the document has content to show (from IndexedDB or from the server), or is refused. */
  ready!: Promise<void>
  /** Resolves the current `ready`. */
  private markReady?: () => void
  /** What the server has of this copy, and what it lacks. */
  private acks = new Acknowledgement()
  private local?: IndexeddbPersistence
  private recovering = false
  private closed = false
  private retries = 0
  private retryTimer?: ReturnType<typeof setTimeout>

  constructor(session: Session, name: string) {
    super()
    this.session = session
    this.name = name
    const { ref, surface } = resolve(name)
    this.ref = ref
    this.surface = surface
    const doc = (this.doc = new Y.Doc())
    if (session.identified) {
      this.connect(doc)
      return
    }
    // Opened before the session's first token: connects once it is known; `ready` waits for it.
    let loaded!: () => void
    this.ready = new Promise((resolve) => (loaded = resolve))
    void session.ready.then(() => !this.closed && this.doc === doc && this.connect(doc, loaded))
  }

  /** The reason of the refusal, while refused. */
  get refused(): string | undefined {
    return this.refusal?.reason
  }

  /** May the user write at `path` (`ballot/choice`, `comments/u1:c9`)? The same rules the server's guard applies. */
  canWrite(path: string, op: Op = 'insert'): boolean {
    if (this.refusal || this.provider?.authorizedScope === 'readonly') return false
    return canWrite(this.surface, path, writeContext(this.session.user, this.ref, this.doc, this.session.facts), op)
  }

  /** Checks the rule for `path`, then applies `change` in one transaction. */
  write(path: string, change: (doc: Y.Doc) => void, op: Op = 'insert'): void {
    if (!this.canWrite(path, op)) throw new NotAllowed(`${this.name}/${path}`)
    this.doc.transact(() => change(this.doc))
  }

  get awareness() {
    if (!this.provider?.awareness) throw new Error(`${this.name} is not connected yet: await session.ready first`)
    return this.provider.awareness
  }

  /** True while the copy holds changes the server has not acknowledged (kept in IndexedDB across reloads). */
  get pending(): boolean {
    return this.provider?.hasUnsyncedChanges === true || this.acks.hasPending(this.doc)
  }

  /** Paths (`root/key`) of the changes the server has not acknowledged. */
  pendingPaths(): string[] {
    return this.acks.paths(this.doc)
  }

  /** The changes the server has not acknowledged, as one Yjs update (`Y.applyUpdate` brings them into any copy). */
  exportPending(): Uint8Array {
    return this.acks.update(this.doc)
  }

  /** This document's part of the connection state. */
  state(): ConnectionState {
    if (this.refusal) return 'refused'
    if (this.session.socket.status !== 'connected') return 'offline'
    return this.provider?.synced && !this.provider.hasUnsyncedChanges && this.retries === 0 ? 'online' : 'syncing'
  }

  /** Drops the local copy, unacknowledged changes included, and opens the document afresh from the server. */
  async discard(): Promise<void> {
    this.stop()
    await this.local?.clearData()
    this.local = undefined
    this.acks = new Acknowledgement()
    this.refusal = undefined
    const old = this.doc
    this.connect(new Y.Doc())
    old.destroy()
    this.emit('change', undefined)
    this.session.changed()
  }

  close(): void {
    this.closed = true
    this.stop()
    void this.local?.destroy()
    this.doc.destroy()
    this.clearListeners()
  }

  /** Opens the document again on the same copy (after a refusal, a limit or a new token): local changes are sent again. */
  reopen(): void {
    if (this.recovering || this.closed || !this.provider) return
    this.refusal = undefined
    this.stop()
    void this.local?.destroy()
    this.connect(this.doc)
  }

  private stop(): void {
    clearTimeout(this.retryTimer)
    this.provider?.destroy()
  }

  private connect(doc: Y.Doc, loaded?: () => void): void {
    if (this.doc !== doc || !this.provider) this.listen(doc)
    this.doc = doc
    this.synced = false
    if (!loaded) this.ready = new Promise((resolve) => (loaded = resolve))
    const done = loaded!
    this.markReady = done
    const local = this.session.offline ? new IndexeddbPersistence(this.session.storageKey(this.name), doc) : undefined
    this.local = local
    if (local) {
      void local.whenSynced.then(() => {
        if (doc.store.clients.size > 0) done()
      })
    }
    const provider = new HocuspocusProvider({
      websocketProvider: this.session.socket,
      name: this.name,
      document: doc,
      token: () => this.session.freshToken(),
      // Each copy gets its own address (`name\0session`). After the server closed a copy's
      // connection, frames of that copy still in flight would otherwise be taken by the server as
      // the start of the next copy's connection, and refuse or close it again.
      sessionAwareness: true,
      onSynced: () => {
        this.synced = true
        this.retries = 0
        this.acknowledge(provider)
        done()
        this.emit('synced', undefined)
        this.session.changed()
      },
      onAuthenticationFailed: ({ reason }) => void this.authenticationFailed(reason),
      onClose: ({ event }) => {
        if (this.recovering || this.provider !== provider) return
        // A write to a root the surface lacks (an editor bound to the wrong field) comes back after any reload: refuse.
        if (unknownRootOf(event.reason) !== undefined) void this.refuse(event.reason)
        else if (REJECTED.test(event.reason)) void this.recover(event.reason)
        else if (RETRY.test(event.reason)) this.retry()
      },
      onStateless: ({ payload }) => {
        const now = readClockMessage(payload)
        if (now !== undefined) this.session.heardServerTime(now)
      },
      onUnsyncedChanges: () => {
        this.acknowledge(provider)
        this.session.changed()
      },
    })
    // A new Awareness holds its empty state at clock 0, and Hocuspocus 4.7 reads each awareness
    // message into a fresh scratch Awareness, which takes only clocks above 0: without this the
    // user would be missing from everyone's presence until the provider's 15 s renewal.
    provider.awareness?.setLocalState({})
    this.provider = provider
    // The provider would send the IndexedDB copy, replayed into the document, as a fresh change
    // (which a read-only connection never gets acknowledged). So it attaches once the copy and
    // its acknowledged snapshot are loaded; the sync handshake then sends the server only what it lacks.
    if (!local) provider.attach()
    else
      void local.whenSynced
        .then(() => local.get(ACKNOWLEDGED_KEY))
        .then((stored: unknown) => {
          if (stored instanceof ArrayBuffer || stored instanceof Uint8Array) this.acks = new Acknowledgement(new Uint8Array(stored))
          if (this.provider === provider && !this.closed) provider.attach()
        })
  }

  private listen(doc: Y.Doc): void {
    doc.on('update', (update: Uint8Array, origin: unknown) => {
      if (origin instanceof HocuspocusProvider) this.acks.fromServer(update)
      this.emit('change', undefined)
    })
    // Deletions leave no trace in the state vector: the local ones are recorded as they happen
    // (not those replayed from IndexedDB: their record was stored with them).
    doc.on('afterTransaction', (transaction: Y.Transaction) => {
      const origin = transaction.origin
      if (origin instanceof HocuspocusProvider || origin instanceof IndexeddbPersistence || doc !== this.doc) return
      if (this.acks.localDeletes(transaction.deleteSet)) this.storeAcks()
    })
  }

  /** Everything the server was sent is acknowledged: what the copy holds now is safe on the server. */
  private acknowledge(provider: HocuspocusProvider): void {
    if (provider !== this.provider || !provider.synced || provider.hasUnsyncedChanges) return
    this.acks.all(this.doc)
    this.storeAcks()
  }

  private storeAcks(): void {
    void this.local?.set(ACKNOWLEDGED_KEY, this.acks.encode().slice().buffer)
  }

  /** An expired token with a token function, or an opening the server could not check: ask again, later and later, keeping the copy meanwhile. */
  private async authenticationFailed(reason: string): Promise<void> {
    if ((/^unauthenticated\b/.test(reason) && this.session.refreshable) || /^unavailable\b/.test(reason)) this.retry()
    else await this.refuse(reason)
  }

  private retry(): void {
    this.retries += 1
    this.session.changed()
    clearTimeout(this.retryTimer)
    this.retryTimer = setTimeout(() => this.reopen(), Math.min(MAX_RETRY_MS, 500 * 2 ** (this.retries - 1)))
  }

  private async refuse(reason: string): Promise<void> {
    this.stop()
    const pending = this.pendingPaths()
    this.refusal = { reason, pending }
    // Only a lasting denial of a copy with nothing unacknowledged drops it; anything else stays for
    // the next opening, `exportPending()` or `discard()`.
    if (deniesAccess(reason) && pending.length === 0 && !this.acks.hasPending(this.doc)) {
      await this.local?.clearData()
      this.local = undefined
    }
    this.emit('refused', this.refusal)
    this.session.changed()
    // An app awaiting `ready` learns of the refusal instead of waiting for ever.
    this.markReady?.()
  }

  /** Drops the local copy (memory and IndexedDB), reloads from the server and reports what was lost. */
  private async recover(reason: string): Promise<void> {
    this.recovering = true
    const old = this.doc
    const before = this.surface.decode(old)
    const dropped = this.acks.update(old)
    this.stop()
    await this.local?.clearData()
    this.acks = new Acknowledgement()
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
    this.emit('recovered', { reason, notAccepted, dropped })
    this.emit('change', undefined)
  }
}

interface SessionEvents extends Record<string, unknown> {
  state: ConnectionState
}

export class Session extends Emitter<SessionEvents> {
  readonly socket: HocuspocusProviderWebsocket
  readonly offline: boolean
  /** Facts the write rules consult: the client's copies of related documents (a ballot's poll). */
  readonly facts: Facts
  /** Resolves once the first token is known (at once for a token string): then `user` is known. */
  readonly ready: Promise<void>
  /** True when the token comes from a function, so an expired one can be replaced. */
  readonly refreshable: boolean
  private readonly source: TokenSource
  private current?: { token: string; user: Identity }
  private readonly handles = new Map<string, Handle>()
  private lastState?: ConnectionState
  /** Server time minus device time, from the last clock message; 0 until one arrived. */
  private clockOffsetMs = 0

  /** A session whose first token is known: `new Session(options)` then `await session.ready`. */
  static async start(options: SessionOptions): Promise<Session> {
    const session = new Session(options)
    await session.ready
    return session
  }

  constructor(options: SessionOptions) {
    super()
    this.source = options.token
    this.refreshable = typeof options.token === 'function'
    if (typeof options.token === 'string') this.current = { token: options.token, user: identityFromToken(options.token) }
    this.offline = options.offline ?? typeof indexedDB !== 'undefined'
    this.socket = new HocuspocusProviderWebsocket({
      url: options.device ? withDevice(options.url, options.device) : options.url,
      WebSocketPolyfill: options.WebSocketPolyfill as typeof WebSocket | undefined,
      // Come back quickly after a network outage; the server copes with the reconnects.
      maxDelay: 2000,
      // Attaching a provider to a socket that has not started connecting starts another
      // connection attempt, which replaces the first socket a moment later (dropping presence).
      // So the documents opened right away attach first and the socket connects once, after them.
      autoConnect: false,
      onStatus: () => this.changed(),
    })
    this.ready = this.current ? Promise.resolve() : this.firstToken()
    void this.ready.then(() => queueMicrotask(() => void this.socket.connect()))
    this.facts = { frozen: () => null, related: (name) => this.handles.get(name)?.doc }
    // A socket can look open long after the network is gone; the browser knows sooner.
    globalThis.addEventListener?.('offline', this.goOffline)
    globalThis.addEventListener?.('online', this.goOnline)
  }

  /** True once a token is known (at once for a token string). */
  get identified(): boolean {
    return this.current !== undefined
  }

  /** The user the token names (read, not verified: the server verifies). Known once `ready` resolved. */
  get user(): Identity {
    if (!this.current) throw new Error('the session has no token yet: await session.ready (or Session.start) first')
    return this.current.user
  }

  /** The last token had, for the HTTP API (`Authorization: Bearer …`). */
  get token(): string {
    if (!this.current) throw new Error('the session has no token yet: await session.ready (or Session.start) first')
    return this.current.token
  }

  /** Asks the token function for a token (returns the fixed one otherwise); each document connection calls it. */
  async freshToken(): Promise<string> {
    if (typeof this.source === 'string') return this.source
    const token = await this.source()
    this.current = { token, user: this.current?.user ?? identityFromToken(token) }
    return token
  }

  private async firstToken(): Promise<void> {
    for (let delay = 500; ; delay = Math.min(delay * 2, MAX_RETRY_MS)) {
      try {
        await this.freshToken()
        return
      } catch {
        // Offline, or the app's token endpoint is down: try again later.
        await new Promise((resolve) => setTimeout(resolve, delay))
      }
    }
  }

  /** The server's time now (ms since the epoch): the device clock corrected by the server's last clock message. */
  now(): number {
    return Date.now() + this.clockOffsetMs
  }

  /** True once a clock message arrived: until then `now()` is the device clock. */
  heardServer = false

  /** A clock message arrived (its transit time, a few milliseconds, is not corrected for). */
  heardServerTime(serverNow: number): void {
    this.clockOffsetMs = serverNow - Date.now()
    this.heardServer = true
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

  /** Reconnects now: the socket, and every refused document (asking the token function again). */
  reconnect(): void {
    for (const handle of this.handles.values()) if (handle.refusal) handle.reopen()
    if (this.socket.status === 'disconnected') return void this.socket.connect()
    // The socket ignores connect() until its close has come through.
    const again = () => {
      this.socket.off('disconnect', again)
      void this.socket.connect()
    }
    this.socket.on('disconnect', again)
    this.socket.disconnect()
  }

  state(): ConnectionState {
    const handles = [...this.handles.values()]
    if (handles.some((handle) => handle.refusal && handle.pending)) return 'refused'
    if (this.socket.status !== 'connected') return 'offline'
    return handles.some((handle) => handle.state() === 'syncing') ? 'syncing' : 'online'
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
