// Events out: the facts a back end cares about (an exam closed with its scores, an emergency
// escalated, a bus arrived …), published once cluster-wide under a stable id to the outbound
// Redis stream (EVENTS_OUT_STREAM) and, when EVENTS_WEBHOOK_URL is set, to the signed events
// webhook (server/webhook.ts) through its durable outbox (server/events/outbox.ts). Observers may
// derive the same fact on several instances or again after a restart: the id decides once, for
// each way out on its own. The webhook delivery is written to the store's outbox first (its
// primary key is the id), so it survives a crash and a receiver that is down; then, with Redis,
// one script sets a dedup key (kept DEDUP_TTL_S) and adds the stream entry atomically, so an
// event is in the stream exactly once or not at all. Publishing never throws and never delays
// the observer that calls it.
import { Redis } from 'ioredis'
import type { Config } from '../config.ts'
import type { Logger } from '../log.ts'
import type { Metrics } from '../metrics.ts'
import type { OutboxStore } from '../store/events.ts'
import { Webhook } from '../webhook.ts'
import { WebhookOutbox } from './outbox.ts'

/** Dedup keys outlive any re-derivation worth caring about; consumers de-duplicate by id beyond that. */
const DEDUP_TTL_S = 8 * 24 * 3600

export const OUTBOUND_TYPES = [
  'exam.opened',
  'exam.submitted',
  'exam.closed',
  'proctoring.alert',
  'emergency.created',
  'emergency.acknowledged',
  'emergency.escalated',
  'emergency.cleared',
  'bus.arrived',
  'bus.speeding',
  'bus.off_route',
  'bus.stale',
  'poll.closed',
  'notification.undelivered',
  'user.connected',
  'user.disconnected',
  'school.context_switched',
] as const
export type OutboundType = (typeof OUTBOUND_TYPES)[number]

export interface OutboundEvent {
  type: OutboundType
  /** Stable: the same fact derived again carries the same id. */
  id: string
  school: string
  /** When the fact happened (ms since the epoch); now when left out. */
  at?: number
  data: Record<string, unknown>
}

export interface Publisher {
  /**
   * Publishes once per id, in the background. The promise (which never rejects) says whether the
   * event went out every way configured, for a caller that records having published it: one that
   * failed may be published again under its id (both ways de-duplicate).
   */
  publish(event: OutboundEvent): Promise<boolean>
}

/** SET NX the dedup key, and only then XADD: both or neither. */
const PUBLISH_ONCE = `if redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then
  return redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*', unpack(ARGV, 3))
end
return false`

export class EventsOut implements Publisher {
  private readonly config: Config
  private readonly log: Logger
  private readonly metrics: Metrics
  private readonly redis?: Redis
  private readonly outbox?: WebhookOutbox
  private readonly inFlight = new Set<Promise<boolean>>()

  constructor(options: { config: Config; log: Logger; metrics: Metrics; outbox: OutboxStore }) {
    const { config, log, metrics } = options
    this.config = config
    this.log = log
    this.metrics = metrics
    if (config.redisUrl) {
      this.redis = new Redis(config.redisUrl, { lazyConnect: true })
      this.redis.on('error', () => {}) // failed publishes are logged one by one
    }
    const { webhookUrl, webhookSecret, webhookAttempts, webhookRetryMs } = config.events
    if (webhookUrl) {
      const webhook = new Webhook({ url: webhookUrl, secret: webhookSecret, log, metrics, metricName: 'homeroom_events_webhook_attempts_total' })
      this.outbox = new WebhookOutbox({ store: options.outbox, webhook, log, metrics, attempts: webhookAttempts, retryMs: webhookRetryMs })
    }
  }

  /** Starts delivering the webhook's outbox, deliveries left from before a restart first. */
  start(): void {
    this.outbox?.start()
  }

  publish(event: OutboundEvent): Promise<boolean> {
    if (!this.redis && !this.outbox) return Promise.resolve(true) // no way out configured: nothing left to do
    const done = this.publishOnce({ ...event, at: event.at ?? Date.now() }).then(
      () => true,
      (error) => {
        this.metrics.eventsOutFailed.inc({ type: event.type })
        this.log.error({ err: error, event: event.type, id: event.id }, 'publishing an outbound event failed')
        return false
      },
    )
    this.inFlight.add(done)
    void done.finally(() => this.inFlight.delete(done))
    return done
  }

  /** Both ways out, each on its own: one failing (the store, or Redis, away) does not keep the event from the other. */
  private async publishOnce(event: Required<OutboundEvent>): Promise<void> {
    const { type, id, school, at, data } = event
    const { prefix, outStream, outMaxLen } = { prefix: this.config.redisKeyPrefix, ...this.config.events }
    let failure: unknown
    // The durable way out first: an event in the stream is then in the outbox too.
    const queued = this.outbox ? await this.outbox.enqueue(type, id, { school, at, data }).catch((error) => ((failure = error), false)) : false
    let streamed = false
    if (this.redis) {
      const fields = ['id', id, 'type', type, 'school', school, 'at', String(at), 'data', JSON.stringify(data)]
      streamed = await this.redis
        .eval(PUBLISH_ONCE, 2, `${prefix}event-out:${id}`, outStream, DEDUP_TTL_S, outMaxLen, ...fields)
        .then((added) => added !== null, (error) => ((failure ??= error), false))
    }
    if (queued || streamed) this.metrics.eventsOut.inc({ type })
    if (failure) throw failure
  }

  /** Waits for the publishes under way, then stops the outbox (what waits there is sent after the next start) and closes. */
  async stop(): Promise<void> {
    // Unreachable Redis: publishes would wait out every reconnection; they fail now and are logged.
    if (this.redis && this.redis.status !== 'ready') this.redis.disconnect()
    await Promise.all(this.inFlight)
    await this.outbox?.stop()
    this.redis?.disconnect()
  }
}
