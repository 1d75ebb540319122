// Deliveries: every inbox item is recorded per recipient (the deliveries rows of the events
// store), `delivered` once a client of the recipient holds it (their connection to the inbox
// synced it, or it arrived while one was open, on any instance) and `read` once its read mark is
// written. Urgent and high items still undelivered UNDELIVERED_AFTER_S after they were recorded
// fire the outbound event `notification.undelivered`, once per item and recipient (for an SMS or
// push gateway). Writes to the store are coalesced per inbox; rows are idempotent, so two
// instances recording the same inbox agree.
import type * as Y from 'yjs'
import * as map from 'lib0/map'
import type { Homeroom } from '../../server/homeroom.ts'
import type { DeliveryRow } from '../../server/store/events.ts'
import { mapOf, record } from '../../docs-model/common.ts'
import type { DocRef } from '../../docs-model/types.ts'
import { Coalescer, contain, report } from './runtime.ts'
import type { Change, Observer, Visit } from './registry.ts'

const WRITE_DELAY_MS = 50
const SWEEP_BATCH = 500
/** How often undelivered items are looked for, at most. */
const SWEEP_EVERY_MS = 10_000
const ALERTED = ['urgent', 'high'] as const

interface Known {
  /** Items recorded, read marks recorded, and whether every recorded item is delivered. */
  items: Set<string>
  reads: Set<string>
  allDelivered: boolean
}

export class InboxObserver implements Observer {
  readonly name = 'inbox-observer'
  readonly surfaces = ['inbox']
  private readonly app: Homeroom
  private readonly writes: Coalescer
  private sweeps?: NodeJS.Timeout
  private sweeping?: Promise<void>
  private readonly known = new Map<string, Known>()
  /** Per inbox, the sockets of its owner connected to it on this instance. */
  private readonly owners = new Map<string, Set<string>>()

  constructor(app: Homeroom) {
    this.app = app
    this.writes = new Coalescer(WRITE_DELAY_MS, (error) => report(app, 'inbox.record', error))
  }

  /**
   * The sweep runs in real time, like a coalescing window: it batches the look-up, while which
   * items are overdue is decided by the server's clock (so tests advancing a ManualClock see them).
   */
  start(): void {
    const everyMs = Math.min(SWEEP_EVERY_MS, (this.app.config.events.undeliveredAfterS * 1000) / 5)
    this.sweeps = setInterval(() => {
      this.sweeping ??= contain(this.app, 'inbox.undelivered', () => this.sweep()).finally(() => (this.sweeping = undefined))
    }, everyMs)
    this.sweeps.unref()
  }

  async stop(): Promise<void> {
    this.writes.close()
    clearInterval(this.sweeps)
    await this.sweeping
  }

  changed({ ref, doc }: Change): void {
    this.queue(ref, doc)
  }

  connected({ ref, doc, socketId, context }: Visit): void {
    if (context?.user.sub !== ref.params.user) return
    map.setIfUndefined(this.owners, ref.name, () => new Set<string>()).add(socketId)
    const known = this.known.get(ref.name)
    if (known) known.allDelivered = false
    this.queue(ref, doc)
  }

  disconnected({ ref, socketId }: Visit): void {
    const sockets = this.owners.get(ref.name)
    if (!sockets?.delete(socketId) || sockets.size > 0) return
    this.owners.delete(ref.name)
  }

  unloaded(ref: DocRef): void {
    this.known.delete(ref.name)
    this.owners.delete(ref.name)
  }

  private queue(ref: DocRef, doc: Y.Doc): void {
    this.writes.request(ref.name, () => this.record(ref, this.app.hocuspocus.documents.get(ref.name) ?? doc))
  }

  /** Records new items, new read marks and, with an owner connected, delivery. */
  private async record(ref: DocRef, doc: Y.Doc): Promise<void> {
    const { school } = ref
    const user = ref.params.user
    const store = this.app.eventStore
    const known = map.setIfUndefined(this.known, ref.name, (): Known => ({ items: new Set(), reads: new Set(), allDelivered: false }))
    const now = this.app.clock.now()
    const fresh: DeliveryRow[] = []
    for (const [item, value] of mapOf(doc, 'items').entries()) {
      if (known.items.has(item)) continue
      const fields = record(value) ?? {}
      fresh.push({ school, user, item, type: String(fields.type ?? ''), priority: String(fields.priority ?? 'normal'), title: String(fields.title ?? ''), at: now })
    }
    await store.recordDeliveries(fresh)
    for (const row of fresh) known.items.add(row.item)
    // With an owner's connection open, what the inbox holds has reached a client of theirs.
    if (this.owners.has(ref.name) && (fresh.length > 0 || !known.allDelivered)) {
      await store.markDelivered(school, user, now)
      known.allDelivered = true
    }
    const reads = [...mapOf(doc, 'read').keys()].filter((item) => !known.reads.has(item) && known.items.has(item))
    await store.markRead(school, user, reads, now)
    for (const item of reads) known.reads.add(item)
  }

  /** `notification.undelivered` for each urgent or high item no client of its recipient received in time. */
  private async sweep(): Promise<void> {
    const before = this.app.clock.now() - this.app.config.events.undeliveredAfterS * 1000
    for (;;) {
      const rows = await this.app.eventStore.undelivered(before, ALERTED, SWEEP_BATCH)
      // Marked reported only once out: an instance dying in between leaves the row for the next sweep.
      const published = await Promise.all(
        rows.map((row) =>
          this.app.eventsOut.publish({
            type: 'notification.undelivered',
            id: `notification.undelivered:${row.school}:${row.item}:${row.user}`,
            school: row.school,
            data: { item: row.item, user: row.user, type: row.type, priority: row.priority, title: row.title, recordedAt: row.at },
          }),
        ),
      )
      await this.app.eventStore.markReported(rows.filter((_, i) => published[i]))
      // A failed publish is retried on the next sweep, not in this loop (it would find the same rows again).
      if (rows.length < SWEEP_BATCH || published.includes(false)) return
    }
  }
}
