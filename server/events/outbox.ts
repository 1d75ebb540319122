// The events webhook's durable outbox: publishing an outbound event writes its delivery to the
// store (server/store/events.ts, `webhook_outbox`) before anything is sent, and a sweeper on
// every instance attempts what is due, so a receiver that is down, an instance that crashes or a
// restart loses nothing: the delivery is retried with backoff (EVENTS_WEBHOOK_RETRY_MS, doubling,
// at most 15 minutes) until the receiver accepts it or EVENTS_WEBHOOK_ATTEMPTS are spent. The row
// id is the event's id: a fact derived twice is delivered once, and every attempt carries the same
// `X-Homeroom-Delivery`. Instances sharing the store claim rows with a lease, so each attempt is
// made by one of them. Delivery times are wall-clock: a transport concern, not the app's clock.
import client from 'prom-client'
import type { Logger } from '../log.ts'
import type { Metrics } from '../metrics.ts'
import type { OutboxRow, OutboxStore } from '../store/events.ts'
import { webhookBody, type Webhook } from '../webhook.ts'

const MAX_BACKOFF_MS = 15 * 60_000
/** Settled deliveries are remembered this long: a re-derived fact inside it is not sent again. */
const KEEP_MS = 8 * 24 * 3600_000
const BATCH = 100

export interface OutboxOptions {
  store: OutboxStore
  webhook: Webhook
  log: Logger
  metrics: Metrics
  attempts: number
  retryMs: number
}

/** The wait before attempt `attempts + 1`, the first retry waiting `retryMs`. */
export const backoff = (retryMs: number, attempts: number): number => Math.min(retryMs * 2 ** (attempts - 1), MAX_BACKOFF_MS)

export class WebhookOutbox {
  private readonly options: OutboxOptions
  private readonly waiting: client.Gauge
  private timer?: NodeJS.Timeout
  private sweeping?: Promise<void>
  /** A publish arrived during a sweep: sweep once more straight after. */
  private again = false
  private stopped = false
  private lastPrune = 0

  constructor(options: OutboxOptions) {
    this.options = options
    const { store } = options
    this.waiting = new client.Gauge({
      name: 'homeroom_events_webhook_outbox_waiting',
      help: 'Events webhook deliveries waiting in the outbox (not yet accepted, not given up)',
      registers: [options.metrics.registry],
      async collect() {
        this.set(await store.webhooksWaiting().catch(() => Number.NaN))
      },
    })
  }

  /** Sweeps every retry interval (at most every 5 s) from now on: deliveries left from before a restart included. */
  start(): void {
    if (this.timer || this.stopped) return
    const every = Math.min(this.options.retryMs, 5000)
    this.timer = setInterval(() => this.kick(), every).unref()
    this.kick()
  }

  /** Stores the delivery (false when its id is there already) and sweeps. Throws when the store does. */
  async enqueue(event: string, id: string, payload: Record<string, unknown>): Promise<boolean> {
    const added = await this.options.store.enqueueWebhook({ id, event, body: webhookBody(event, id, payload) }, Date.now())
    if (added) this.kick()
    return added
  }

  private kick(): void {
    if (this.stopped) return
    if (this.sweeping) {
      this.again = true
      return
    }
    this.sweeping = this.sweep()
      .catch((error) => this.options.log.error({ err: error }, 'events webhook outbox sweep failed; retrying at the next'))
      .finally(() => {
        this.sweeping = undefined
        if (this.again) {
          this.again = false
          this.kick()
        }
      })
  }

  /** Attempts every due delivery, a batch at a time. */
  private async sweep(): Promise<void> {
    const { store } = this.options
    for (;;) {
      if (this.stopped) return
      const now = Date.now()
      // Twice as long as an attempt may take: a claimed row is not attempted twice at once, and one
      // whose instance died mid-attempt is attempted again soon after.
      const rows = await store.claimWebhooks(now, now + 2 * this.options.webhook.timeoutMs, BATCH)
      const outcomes = await Promise.all(rows.map((row) => this.attempt(row)))
      await store.webhooksDelivered(rows.filter((_, i) => outcomes[i]).map((row) => row.id), Date.now())
      if (rows.length < BATCH) break
    }
    if (Date.now() - this.lastPrune > 3600_000) {
      this.lastPrune = Date.now()
      await store.pruneWebhooks(Date.now() - KEEP_MS)
    }
  }

  /** One attempt; true when the receiver accepted it (the batch's acceptances are recorded together). */
  private async attempt(row: OutboxRow): Promise<boolean> {
    const { store, webhook, log, attempts, retryMs } = this.options
    const outcome = await webhook.attempt(row.event, row.id, row.body, row.attempts)
    if (outcome === 'delivered') return true
    if (outcome === 'retry' && row.attempts < attempts) {
      webhook.count('retry')
      await store.webhookRetry(row.id, Date.now() + backoff(retryMs, row.attempts), `attempt ${row.attempts} not accepted`)
      return false
    }
    webhook.count('failed')
    const why = outcome === 'failed' ? 'the receiver refused it' : `${row.attempts} attempts not accepted`
    log.error({ event: row.event, delivery: row.id, attempts: row.attempts }, `events webhook delivery given up: ${why}`)
    await store.webhookFailed(row.id, Date.now(), why)
    return false
  }

  /** No further sweeps; waits for the one under way. Waiting deliveries stay for the next start. */
  async stop(): Promise<void> {
    this.stopped = true
    clearInterval(this.timer)
    await this.sweeping
  }
}
