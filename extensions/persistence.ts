// Durable journal plus snapshots. A client's update is appended before Hocuspocus applies it
// (and so before the sync acknowledgement); the server's own writes are appended as they
// happen; snapshots are written when the journal tail grows past a threshold.
import * as Y from 'yjs'
import type {
  afterUnloadDocumentPayload,
  beforeHandleMessagePayload,
  beforeUnloadDocumentPayload,
  Extension,
  onLoadDocumentPayload,
  onStoreDocumentPayload,
} from '@hocuspocus/server'
import { isTransactionOrigin } from '@hocuspocus/server'
import { carriesUpdate, isEmptyUpdate, parseFrame } from '../server/frames.ts'
import { contextOf, Refusal } from '../server/context.ts'
import { compact, replay } from '../server/store/replay.ts'
import type { NewEntry, Store } from '../server/store/types.ts'
import type { Metrics } from '../server/metrics.ts'
import type { Logger } from '../server/log.ts'

export interface PersistenceConfig {
  store: Store
  metrics: Metrics
  log: Logger
  /** Journal entries after the last snapshot that make the next store write a new snapshot. */
  snapshotEvery: number
}

/** Client updates are retried this many times before the client is refused. */
const CLIENT_ATTEMPTS = 3
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

export class Persistence implements Extension {
  readonly extensionName = 'persistence'
  readonly priority = 100
  private readonly config: PersistenceConfig
  /** Server-origin appends still in flight, per document; unloading waits for them. */
  private readonly pending = new Map<string, Promise<void>>()
  private snapshotThreshold: number

  constructor(config: PersistenceConfig) {
    this.config = config
    this.snapshotThreshold = config.snapshotEvery
  }

  async onLoadDocument({ document, documentName }: onLoadDocumentPayload): Promise<void> {
    try {
      await replay(this.config.store, documentName, { target: document })
    } catch (error) {
      this.config.metrics.storeFailures.inc({ op: 'load' })
      this.config.log.error({ err: error, doc: documentName }, 'loading failed; refusing the connection')
      // Hocuspocus never destroys a document whose load failed; its awareness timer would leak.
      document.destroy()
      throw new Refusal('unavailable: the document could not be loaded, try again shortly', 4503)
    }
    document.on('update', (update: Uint8Array, origin: unknown) => this.journalServerWrite(documentName, update, origin))
  }

  async beforeHandleMessage({ update, context, documentName, connection }: beforeHandleMessagePayload): Promise<void> {
    if (connection.readOnly) return
    const frame = parseFrame(update)
    if (!carriesUpdate(frame) || isEmptyUpdate(frame.payload)) return
    const user = contextOf(context)?.user.sub ?? null
    await this.append(documentName, { at: Date.now(), user, origin: 'client', update: frame.payload })
  }

  /** Journals writes of the server's observers and tools; client updates were journaled already. */
  private journalServerWrite(documentName: string, update: Uint8Array, origin: unknown): void {
    if (isTransactionOrigin(origin) && (origin.source === 'connection' || origin.source === 'redis')) return
    const user = isTransactionOrigin(origin) && origin.source === 'local' ? (origin.context?.user?.sub ?? 'server') : 'server'
    const entry: NewEntry = { at: Date.now(), user, origin: 'server', update }
    const previous = this.pending.get(documentName) ?? Promise.resolve()
    const next = previous.then(async () => {
      await this.appendWithRetry(documentName, entry, Number.POSITIVE_INFINITY)
    })
    this.pending.set(documentName, next)
    void next.finally(() => {
      if (this.pending.get(documentName) === next) this.pending.delete(documentName)
    })
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
        await this.config.store.append(documentName, entry)
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
  async onStoreDocument({ documentName }: onStoreDocumentPayload): Promise<void> {
    await this.pending.get(documentName)
    await this.snapshot(documentName, this.snapshotThreshold)
  }

  async beforeUnloadDocument({ documentName }: beforeUnloadDocumentPayload): Promise<void> {
    await this.pending.get(documentName)
  }

  /** From now on every store writes a snapshot if anything is unsnapshotted (used at shutdown). */
  snapshotEverything(): void {
    this.snapshotThreshold = 1
  }

  /** The current state of a document: the live copy if loaded, else replayed from storage. */
  async peek(documentName: string, loaded: Map<string, Y.Doc>): Promise<Y.Doc> {
    return loaded.get(documentName) ?? (await replay(this.config.store, documentName)).doc
  }

  private async snapshot(documentName: string, minTail: number): Promise<void> {
    try {
      const bytes = await compact(this.config.store, documentName, minTail)
      if (bytes !== undefined) this.config.metrics.snapshotBytes.observe(bytes)
    } catch (error) {
      this.config.metrics.storeFailures.inc({ op: 'snapshot' })
      this.config.log.error({ err: error, doc: documentName }, 'snapshot failed; the journal still holds every change, will retry on the next store')
    }
  }
}
