// Consuming the events stream (EVENTS_STREAM) through one consumer group shared by every instance:
// each entry is read by one consumer (XREADGROUP), delivered (incoming.ts), and acknowledged
// (XACK) only once every inbox item is journaled. Entries a consumer holds past
// EVENTS_CLAIM_AFTER_MS (it crashed) are claimed by another (XAUTOCLAIM); a live consumer keeps
// claiming the entries it is working on (XCLAIM JUSTID resets their idle time), so slow work is
// not taken over. Since the event id is the idempotency key, a redelivery adds nothing where the
// item already is. A failed delivery is
// retried with backoff; an entry that cannot be read as an event, or still fails after
// EVENTS_MAX_ATTEMPTS, moves to the dead-letter stream with the reason (added and acknowledged in
// one MULTI, so it is never in neither place).
//
// An entry's fields are the event's: strings as they are (or as a JSON string), `targets` and
// `data` as JSON; or one field `event` holding the whole event as JSON.
import { randomUUID } from 'node:crypto'
import { Redis } from 'ioredis'
import type { Homeroom } from '../homeroom.ts'
import { EventRefused, parseEvent, receiveEvent } from './incoming.ts'

export const GROUP = 'homeroom'
const BATCH = 20
const BLOCK_MS = 1000
const STRING_FIELDS = new Set(['id', 'school', 'type', 'title', 'body', 'priority', 'actionUrl'])

type Entry = [id: string, fields: string[]]

/** An entry's fields as the event they carry (not yet validated). */
export function entryEvent(fields: string[]): unknown {
  const raw = new Map<string, string>()
  for (let i = 0; i + 1 < fields.length; i += 2) raw.set(fields[i], fields[i + 1])
  const json = (field: string, value: string): unknown => {
    try {
      return JSON.parse(value)
    } catch {
      throw new EventRefused('bad-event', `${field}: not JSON`)
    }
  }
  if (raw.size === 1 && raw.has('event')) return json('event', raw.get('event')!)
  const event: Record<string, unknown> = {}
  for (const [field, value] of raw) event[field] = STRING_FIELDS.has(field) && !value.startsWith('"') ? value : json(field, value)
  return event
}


export class EventIngress {
  private readonly app: Homeroom
  private readonly redis: Redis
  private readonly consumer: string
  /** Entries of this consumer waiting for a retry: when, and how often they were delivered so far. */
  private readonly retries = new Map<string, { at: number; deliveries: number }>()
  /** Entries being delivered right now, kept claimed while they are. */
  private readonly working = new Set<string>()
  private keepClaimed?: NodeJS.Timeout
  private stopped = false
  private reading = false
  private loop?: Promise<void>
  /** Ends the pause between failing rounds early, when stopping. */
  private wake?: () => void

  constructor(app: Homeroom, url: string) {
    this.app = app
    this.consumer = `${app.config.instanceId}-${randomUUID().slice(0, 8)}`
    // No offline queue: while Redis is away a command fails at once and the loop's own backoff retries
    // (a queued command would outlive stop(), which cannot end a reconnecting client's queue).
    this.redis = new Redis(url, { maxRetriesPerRequest: null, lazyConnect: true, enableOfflineQueue: false })
    this.redis.on('error', () => {}) // outages are reported by the loop, once per failing round
  }

  private get options() {
    return this.app.config.events
  }

  start(): void {
    this.loop ??= this.run()
    this.keepClaimed = setInterval(() => {
      if (this.working.size === 0) return
      // JUSTID: no delivery counted, only the idle time reset.
      this.redis.xclaim(this.options.stream, GROUP, this.consumer, 0, ...this.working, 'JUSTID').catch(() => {})
    }, Math.max(50, Math.floor(this.options.claimAfterMs / 3)))
    this.keepClaimed.unref()
  }

  /** Stops reading; an entry being delivered is finished (and acknowledged) first. */
  async stop(): Promise<void> {
    this.stopped = true
    clearInterval(this.keepClaimed)
    // A blocked read, or a connection still being attempted (Redis unreachable), would hold the loop forever.
    if (this.reading || this.redis.status !== 'ready') this.redis.disconnect()
    this.wake?.()
    await this.loop
    this.redis.disconnect()
  }

  private async run(): Promise<void> {
    let failures = 0
    while (!this.stopped) {
      try {
        if (this.redis.status === 'wait') await this.redis.connect()
        await this.ensureGroup()
        await this.round()
        failures = 0
      } catch (error) {
        if (this.stopped) break
        if (failures++ === 0) this.app.log.warn({ err: error, stream: this.options.stream }, 'reading the events stream failed; retrying')
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, Math.min(5000, 100 * 2 ** failures))
          this.wake = () => {
            clearTimeout(timer)
            resolve()
          }
        })
        this.wake = undefined
      }
    }
  }

  private groupReady = false
  private async ensureGroup(): Promise<void> {
    if (this.groupReady) return
    try {
      // From the start of the stream: events added before the first instance ran are delivered too.
      await this.redis.xgroup('CREATE', this.options.stream, GROUP, '0', 'MKSTREAM')
    } catch (error) {
      if (!String((error as Error).message).startsWith('BUSYGROUP')) throw error
    }
    this.groupReady = true
  }

  /** One round: entries of crashed consumers, own retries that are due, then new entries. */
  private async round(): Promise<void> {
    const { stream, claimAfterMs } = this.options
    const [, claimed, deleted] = (await this.redis.xautoclaim(stream, GROUP, this.consumer, claimAfterMs, '0-0', 'COUNT', BATCH)) as [string, Entry[], string[]?]
    if (deleted?.length) await this.redis.xack(stream, GROUP, ...deleted) // trimmed away before anyone delivered them
    if (claimed.length) await this.handleAll(claimed, await this.deliveryCounts(claimed))

    const now = Date.now()
    const due = [...this.retries].filter(([, r]) => r.at <= now).slice(0, BATCH)
    if (due.length) {
      const entries = (await this.redis.xclaim(stream, GROUP, this.consumer, 0, ...due.map(([id]) => id))) as Entry[]
      const counts = new Map(due.map(([id, r]) => [id, r.deliveries + 1]))
      for (const [id] of due) if (!entries.some(([e]) => e === id)) this.retries.delete(id) // claimed by another meanwhile
      await this.handleAll(entries, counts)
    }

    if (this.stopped) return
    this.reading = true
    let read: Array<[string, Entry[]]> | null
    try {
      read = (await this.redis.xreadgroup('GROUP', GROUP, this.consumer, 'COUNT', BATCH, 'BLOCK', this.retries.size ? 100 : BLOCK_MS, 'STREAMS', stream, '>')) as Array<[string, Entry[]]> | null
    } finally {
      this.reading = false
    }
    const fresh = read?.[0]?.[1] ?? []
    if (fresh.length) await this.handleAll(fresh, new Map(fresh.map(([id]) => [id, 1])))
    await this.measure()
  }

  /** How often each entry was delivered, from the group's pending list. */
  private async deliveryCounts(entries: Entry[]): Promise<Map<string, number>> {
    const counts = new Map<string, number>()
    for (const [id] of entries) {
      const pending = (await this.redis.xpending(this.options.stream, GROUP, id, id, 1)) as Array<[string, string, number, number]>
      counts.set(id, pending[0]?.[3] ?? 1)
    }
    return counts
  }

  private async handleAll(entries: Entry[], deliveries: Map<string, number>): Promise<void> {
    await Promise.all(entries.map(([id, fields]) => this.handle(id, fields ?? [], deliveries.get(id) ?? 1)))
  }

  private async handle(entry: string, fields: string[], deliveries: number): Promise<void> {
    const { stream, maxAttempts, retryMs } = this.options
    this.working.add(entry)
    try {
      const received = await receiveEvent(this.app, parseEvent(entryEvent(fields)))
      await this.redis.xack(stream, GROUP, entry)
      this.retries.delete(entry)
      this.app.metrics.eventsProcessed.inc({ source: 'stream', outcome: received.duplicate ? 'duplicate' : 'new' })
    } catch (error) {
      if (error instanceof EventRefused) return this.deadLetter(entry, fields, error.code, `${error.code}: ${error.message}`)
      this.app.metrics.eventsFailed.inc()
      this.app.log.warn({ err: error, entry, deliveries }, 'delivering a stream event failed')
      if (deliveries >= maxAttempts) return this.deadLetter(entry, fields, 'attempts', `failed ${deliveries} times; last: ${(error as Error).message}`)
      this.retries.set(entry, { at: Date.now() + retryMs * 2 ** (deliveries - 1), deliveries })
    } finally {
      this.working.delete(entry)
    }
  }

  private async deadLetter(entry: string, fields: string[], reason: string, message: string): Promise<void> {
    const { stream, deadLetterStream } = this.options
    this.retries.delete(entry)
    await this.redis
      .multi()
      .xadd(deadLetterStream, '*', 'reason', message, 'entry', entry, 'stream', stream, 'fields', JSON.stringify(fields))
      .xack(stream, GROUP, entry)
      .exec()
    this.app.metrics.eventsDeadLettered.inc({ reason })
    this.app.log.warn({ entry, reason: message }, 'stream event moved to the dead-letter stream')
  }

  /** The group's lag and pending count, as gauges. */
  private async measure(): Promise<void> {
    const groups = (await this.redis.xinfo('GROUPS', this.options.stream)) as unknown[][]
    for (const group of groups) {
      const info = new Map<string, unknown>()
      for (let i = 0; i + 1 < group.length; i += 2) info.set(String(group[i]), group[i + 1])
      if (info.get('name') !== GROUP) continue
      this.app.metrics.eventsLag.set(Number(info.get('lag') ?? 0))
      this.app.metrics.eventsPending.set(Number(info.get('pending') ?? 0))
    }
  }
}
