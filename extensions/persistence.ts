// Durable journal plus snapshots. A client's update is appended before Hocuspocus applies it
// (and so before the sync acknowledgement); the server's own writes are appended as they
// happen; snapshots are written when the journal tail grows past a threshold that grows with
// the document (so their cost per update stays flat), encoded from the live document when it
// holds everything stored (server/history/live-snapshot.ts), else replayed.
import * as Y from 'yjs'
import type {
  afterUnloadDocumentPayload,
  beforeHandleMessagePayload,
  beforeUnloadDocumentPayload,
  Extension,
  onLoadDocumentPayload,
  onStoreDocumentPayload,
} from '@hocuspocus/server'
import { serverContext, sourceOf } from '../server/origin.ts'
import { carriesUpdate, isEmptyUpdate, parseFrame } from '../server/frames.ts'
import { SERVER_OWNER } from '../server/guard/check.ts'
import { contextOf, Refusal } from '../server/context.ts'
import { compact } from '../server/history/prune.ts'
import { replay, type SkippedEntry } from '../server/history/replay.ts'
import { snapshotLive } from '../server/history/live-snapshot.ts'
import { consolidate, thinSnapshots } from '../server/history/consolidate.ts'
import type { ClientOwnerStore, HistoryStore, NewEntry } from '../server/store/types.ts'
import type { Metrics } from '../server/metrics.ts'
import type { Logger } from '../server/log.ts'
import { EXTENSION_PRIORITY } from './priorities.ts'
import { messageYjsSyncStep2 } from 'y-protocols/sync'

export interface PersistenceConfig {
  store: HistoryStore & ClientOwnerStore
  metrics: Metrics
  log: Logger
  /** Journal entries after the last snapshot that make the next store write a new snapshot. */
  snapshotEvery: number
}

/** The owner recorded for the Yjs client ids the server writes under (one the guard never lets a client be). */
export { SERVER_OWNER }

/** The origin of journal entries applied to a live copy that lacked them (see catchUp): Hocuspocus' origin of a peer's change. */
const JOURNALED_ORIGIN = { source: 'redis' } as const

/** Client updates are retried this many times before the client is refused. */
const CLIENT_ATTEMPTS = 3
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
/**
 * While a document is loaded, a snapshot waits for about as many journal bytes as it holds
 * (counted as entries of this many bytes, a keystroke's size): each snapshot costs the
 * document's size, so writing one per that much journal keeps the cost per update flat.
 */
const SNAPSHOT_BYTES_PER_ENTRY = 32
/** A live snapshot retried this often while the document keeps changing under the store's reads, before replaying instead. */
const LIVE_ATTEMPTS = 3

export class Persistence implements Extension {
  readonly extensionName = 'persistence'
  readonly priority = EXTENSION_PRIORITY.persistence
  private readonly config: PersistenceConfig
  /** Server-origin appends still in flight, per document; unloading waits for them. */
  private readonly pending = new Map<string, Promise<void>>()
  private snapshotThreshold: number
  /** Yjs client ids already claimed for the server, per document, so each is claimed once. */
  private readonly serverClients = new Map<string, Set<number>>()
  /** Per loaded document: the sequence number up to which its live copy holds every entry (its load, its last live snapshot). */
  private readonly covered = new Map<string, number>()
  /** Merges of old history under way (stopping waits for them rather than close the store under them). */
  private readonly housekeeping = new Set<Promise<void>>()
  /** Per loaded document: how many changes it has taken (a live snapshot needs it still during the store's reads). */
  private readonly changes = new WeakMap<Y.Doc, number>()
  /** Connections whose first change was checked against the journal (see catchUpBeforeGuard). */
  private readonly caughtUp = new WeakSet<object>()

  constructor(config: PersistenceConfig) {
    this.config = config
    this.snapshotThreshold = config.snapshotEvery
  }

  async onLoadDocument({ document, documentName }: onLoadDocumentPayload): Promise<void> {
    try {
      const { seq } = await replay(this.config.store, documentName, { target: document, onSkipped: (skipped) => this.reportSkipped(documentName, skipped) })
      this.covered.set(documentName, seq)
    } catch (error) {
      this.config.metrics.storeFailures.inc({ op: 'load' })
      this.config.log.error({ err: error, doc: documentName }, 'loading failed; refusing the connection')
      // Hocuspocus never destroys a document whose load failed; its awareness timer would leak.
      document.destroy()
      throw new Refusal('unavailable: the document could not be loaded, try again shortly', 4503)
    }
    document.on('update', (update: Uint8Array, origin: unknown) => {
      this.changes.set(document, (this.changes.get(document) ?? 0) + 1)
      this.journalServerWrite(documentName, update, origin)
    })
  }

  async beforeHandleMessage({ update, context, documentName, connection }: beforeHandleMessagePayload): Promise<void> {
    if (connection.readOnly) return
    const frame = parseFrame(update)
    if (!carriesUpdate(frame) || isEmptyUpdate(frame.payload) || frame.redundant) return
    const user = contextOf(context)?.user.sub ?? null
    await this.append(documentName, { at: Date.now(), user, origin: 'client', update: frame.payload })
  }

  /**
   * A client's sync step 2 that carries changes (a reconnect with unacknowledged work), or the
   * first change on a connection (a plain update the provider queued while away), may send again
   * what an instance journaled and died before Redis passed on: its own change, or another user's
   * it received from there. Before the write guard judges it (JournalCatchUp), the live copy takes
   * the journal's entries it may lack; the guard then finds those structs held, neither someone
   * else's to refuse nor new to journal again. Costs one read of the journal's tail, on a
   * connection's first change and on reconnects with changes.
   */
  async catchUpBeforeGuard({ update, document, documentName, connection }: beforeHandleMessagePayload): Promise<void> {
    if (connection.readOnly) return
    const frame = parseFrame(update)
    if (!carriesUpdate(frame) || isEmptyUpdate(frame.payload)) return
    const first = !this.caughtUp.has(connection)
    this.caughtUp.add(connection)
    if (!first && frame.syncType !== messageYjsSyncStep2) return
    try {
      const entries = await this.config.store.entriesAfter(documentName, this.covered.get(documentName) ?? 0)
      if (entries.length === 0) return
      // As a peer's change: journaled already, by the instance that received it.
      Y.transact(document, () => {
        for (const entry of entries) Y.applyUpdate(document, entry.update)
      }, JOURNALED_ORIGIN)
      this.covered.set(documentName, entries[entries.length - 1].seq)
    } catch (error) {
      // The entry the loader quarantines, or the store away: the update is judged and journaled as it comes.
      this.config.log.warn({ err: error, doc: documentName }, 'catching up from the journal before a resync failed')
    }
  }

  /** Logs and counts an entry the loader set aside; one it could not flag is an error (it is retried on the next load). */
  private reportSkipped(documentName: string, { entry, reason, flagged, flagError }: SkippedEntry): void {
    const fields = { doc: documentName, seq: entry.seq, at: entry.at, user: entry.user, origin: entry.origin, bytes: entry.update.byteLength, reason }
    if (flagged) {
      this.config.metrics.journalQuarantined.inc()
      this.config.log.error(fields, "journal entry cannot be read: quarantined and skipped (see 'homeroom docs verify' and 'docs repair')")
    } else {
      this.config.metrics.storeFailures.inc({ op: 'quarantine' })
      this.config.log.error({ ...fields, err: flagError }, 'journal entry cannot be read and could not be quarantined: skipped for this load only')
    }
  }

  /**
   * Journals writes of the server's observers and tools; client updates were journaled already.
   * The Yjs client ids such a write creates structs under are claimed for the server first, so no
   * user can claim them later (the guard lets only an id's owner write under it).
   */
  private journalServerWrite(documentName: string, update: Uint8Array, origin: unknown): void {
    if (sourceOf(origin) !== 'server') return
    const user = serverContext(origin)?.user?.sub ?? 'server'
    const entry: NewEntry = { at: Date.now(), user, origin: 'server', update }
    const previous = this.pending.get(documentName) ?? Promise.resolve()
    const next = previous.then(async () => {
      await this.claimForServer(documentName, update)
      await this.appendWithRetry(documentName, entry, Number.POSITIVE_INFINITY)
    })
    this.pending.set(documentName, next)
    void next.finally(() => {
      if (this.pending.get(documentName) === next) this.pending.delete(documentName)
    })
  }

  /** Claims, once per loaded document, the client ids under which `update` adds structs. */
  private async claimForServer(documentName: string, update: Uint8Array): Promise<void> {
    let claimed = this.serverClients.get(documentName)
    if (!claimed) this.serverClients.set(documentName, (claimed = new Set()))
    const { from, to } = Y.parseUpdateMeta(update)
    const fresh = [...to].filter(([client, end]) => end > (from.get(client) ?? 0) && !claimed.has(client)).map(([client]) => client)
    if (fresh.length === 0) return
    for (let attempt = 0; ; attempt++) {
      try {
        const owners = await this.config.store.claimClients(documentName, fresh, SERVER_OWNER)
        for (const client of fresh) {
          const owner = owners.get(client)
          if (owner !== SERVER_OWNER) this.config.log.warn({ doc: documentName, client, owner }, "the server wrote under a Yjs client id that a user owns")
          claimed.add(client)
        }
        return
      } catch (error) {
        this.config.metrics.storeFailures.inc({ op: 'claim' })
        this.config.log.error({ err: error, doc: documentName, attempt }, 'claiming client ids for the server failed')
        await sleep(Math.min(5000, 10 * 4 ** attempt))
      }
    }
  }

  /** Appends a client's update; after a few failed attempts the client is refused instead. */
  private async append(documentName: string, entry: NewEntry): Promise<void> {
    const ok = await this.appendWithRetry(documentName, entry, CLIENT_ATTEMPTS)
    if (!ok) throw new Refusal('unavailable: the change could not be stored; it was not applied, reconnect to retry', 4503)
  }

  private async appendWithRetry(documentName: string, entry: NewEntry, attempts: number): Promise<boolean> {
    for (let attempt = 0; ; attempt++) {
      const started = performance.now()
      try {
        await this.config.store.record(documentName, entry)
        this.config.metrics.journalAppend.observe((performance.now() - started) / 1000)
        return true
      } catch (error) {
        this.config.metrics.storeFailures.inc({ op: 'journal' })
        this.config.log.error({ err: error, doc: documentName, attempt }, 'journal append failed')
        if (attempt >= attempts) return false
        await sleep(Math.min(5000, 10 * 4 ** attempt))
      }
    }
  }

  /** Debounced by Hocuspocus; never throws, so a failed snapshot does not pin the document in memory. */
  async onStoreDocument({ documentName, document, clientsCount }: onStoreDocumentPayload): Promise<void> {
    await this.pending.get(documentName)
    // The last client left (the document unloads): the next load should find a short tail.
    await this.snapshot(documentName, document, clientsCount > 0)
    const sparse = this.keepSparse(documentName)
    this.housekeeping.add(sparse)
    await sparse.finally(() => this.housekeeping.delete(sparse))
  }

  /** Resolves once no merging of old history is under way (the store may close then). */
  async idle(): Promise<void> {
    await Promise.all(this.housekeeping)
  }

  /** History at one-second resolution: old entries merged per user and second, snapshots thinned (consolidate.ts). Never throws. */
  private async keepSparse(documentName: string): Promise<void> {
    try {
      while ((await consolidate(this.config.store, documentName)).more) {
        // a long unmerged history, one bounded pass at a time
      }
      await thinSnapshots(this.config.store, documentName)
    } catch (error) {
      this.config.metrics.storeFailures.inc({ op: 'merge' })
      this.config.log.error({ err: error, doc: documentName }, 'merging old journal entries failed; they stay as they are, will retry on the next store')
    }
  }

  async beforeUnloadDocument({ documentName }: beforeUnloadDocumentPayload): Promise<void> {
    await this.pending.get(documentName)
  }

  async afterUnloadDocument({ documentName }: afterUnloadDocumentPayload): Promise<void> {
    // Claims are idempotent: forgetting them only costs one more claim after a reload.
    this.serverClients.delete(documentName)
    this.covered.delete(documentName)
  }

  /** From now on every store writes a snapshot if anything is unsnapshotted (used at shutdown). */
  snapshotEverything(): void {
    this.snapshotThreshold = 1
  }

  /** Resolves once every server write made to the document so far is journaled. */
  journaled(documentName: string): Promise<void> {
    return this.pending.get(documentName) ?? Promise.resolve()
  }

  /** The current state of a document: the live copy if loaded, else replayed from storage. */
  async peek(documentName: string, loaded: Map<string, Y.Doc>): Promise<Y.Doc> {
    return loaded.get(documentName) ?? (await replay(this.config.store, documentName)).doc
  }

  private async snapshot(documentName: string, document: Y.Doc, editing: boolean): Promise<void> {
    const { store, metrics, log } = this.config
    try {
      const latest = await store.latestSnapshot(documentName)
      const sized = editing && this.snapshotThreshold > 1 ? Math.ceil((latest?.state.byteLength ?? 0) / SNAPSHOT_BYTES_PER_ENTRY) : 0
      const minTail = Math.max(this.snapshotThreshold, sized)
      if ((await store.countAfter(documentName, latest?.seq ?? 0)) < minTail) return
      for (let attempt = 0; attempt < LIVE_ATTEMPTS; attempt++) {
        const covered = this.covered.get(documentName) ?? 0
        const live = await snapshotLive({ store, name: documentName, doc: document, covered, changes: () => this.changes.get(document) ?? 0 })
        if (live.written) {
          this.covered.set(documentName, live.seq)
          metrics.snapshotBytes.observe(live.bytes)
          return
        }
        if (live.why === 'current') return
        if (live.why === 'uncovered') break
      }
      log.debug({ doc: documentName }, 'the live document does not hold every stored entry yet: snapshot replayed from storage')
      const bytes = await compact(store, documentName, 1, { onSkipped: (skipped) => this.reportSkipped(documentName, skipped) })
      if (bytes !== undefined) metrics.snapshotBytes.observe(bytes)
    } catch (error) {
      metrics.storeFailures.inc({ op: 'snapshot' })
      log.error({ err: error, doc: documentName }, 'snapshot failed; the journal still holds every change, will retry on the next store')
    }
  }
}

/** Persistence's journal catch-up (catchUpBeforeGuard), as its own extension: it must run before the write guard, the journal after it. */
export class JournalCatchUp implements Extension {
  readonly extensionName = 'journal-catch-up'
  readonly priority = EXTENSION_PRIORITY.journalCatchUp
  private readonly persistence: Persistence

  constructor(persistence: Persistence) {
    this.persistence = persistence
  }

  async beforeHandleMessage(payload: beforeHandleMessagePayload): Promise<void> {
    await this.persistence.catchUpBeforeGuard(payload)
  }
}
