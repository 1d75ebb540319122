// Inbox fan-outs done exactly once across instances, also when the instance doing one dies half
// way. A fan-out is a store claim with a lease (ClaimStore.takeClaim) that carries its work: the
// recipients in order, the item, and the outbound event and webhook that follow it. The holder
// delivers in batches and renews its lease with its progress after each; every instance sweeps for
// claims whose lease ran out undone and resumes them from that progress. Delivery is idempotent
// per item id (server/inbox.ts), so the batch under way at a crash is delivered again without
// doubling anything, and the event and webhook carry one id each, which receivers de-duplicate.
// The claim is finished only once the event is known to be in the outbound stream (its dedup key
// exists in Redis): a publish lost to a kill or an outage is published again, by this instance or
// by the one that resumes the claim.
import type { Homeroom } from '../../server/homeroom.ts'
import type { OutboundEvent } from '../../server/events/outbound.ts'
import type { Webhook } from '../../server/webhook.ts'
import type { InboxItem } from '../../docs-model/surfaces/inbox/surface.ts'
import { contain, instanceOwner, notify, writerLeasesOf } from './runtime.ts'
import type { Observer } from './registry.ts'

/** Inboxes written at once (each write loads and stores one document); progress is saved after each batch. */
export const FAN_OUT_BATCH = 100
/** Abandoned claims resumed per sweep. */
const SWEEP_LIMIT = 20
/** How often a fan-out looks for its event in Redis, and publishes it again while it is missing. */
const EVENT_CHECK_MS = 100
const EVENT_REPUBLISH_MS = 1000

export interface FanOut {
  school: string
  /** Recipients in delivery order (those who see it at once first). */
  users: string[]
  /** The inbox item's id: the same in every inbox, so delivering twice changes nothing. */
  id: string
  item: InboxItem
  /** Published once every inbox has the item. */
  event?: OutboundEvent
  /** Sent to the alert webhook once every inbox has the item; `delivery` is its id for de-duplication. */
  webhook?: { event: string; delivery: string; payload: Record<string, unknown> }
}

export class FanOuts implements Observer {
  readonly name = 'fan-out'
  readonly surfaces = []
  private readonly app: Homeroom
  private readonly webhook: Webhook
  private readonly owner: string
  private sweeper?: NodeJS.Timeout
  private sweeping = false

  constructor(app: Homeroom, webhook: Webhook) {
    this.app = app
    this.webhook = webhook
    this.owner = instanceOwner(app)
  }

  start(): void {
    // Real time: a sweep looks for leases that ran out; the leases themselves are on the server's clock.
    this.sweeper = setInterval(() => void this.sweep(), Math.max(100, Math.floor(this.app.config.claims.leaseMs / 2))).unref()
  }

  stop(): void {
    clearInterval(this.sweeper)
    this.webhook.stop()
    // Derived writes end with the observers: another instance need not wait for these leases to run out.
    void writerLeasesOf(this.app)?.releaseAll()
  }

  /** Claims `key` for `work` and carries it out, unless it was done or is being done elsewhere. */
  async run(key: string, work: FanOut): Promise<void> {
    await (await this.begin(key, work)).done
  }

  /**
   * Claims `key` for `work` and resolves once the claim is stored (rejects when it cannot be),
   * with the fan-out under way (`done`): a caller that records "started" afterwards never leaves
   * work that no claim covers.
   */
  async begin(key: string, work: FanOut): Promise<{ done: Promise<void> }> {
    const taken = await this.app.store.takeClaim(key, this.owner, this.app.config.claims.leaseMs, this.app.clock.now(), work)
    return { done: taken ? this.carry(key, taken.work as FanOut, taken.progress) : Promise.resolve() }
  }

  /** Resumes the fan-outs whose owner stopped renewing them (it crashed, or lost the store for longer than a lease). */
  private async sweep(): Promise<void> {
    if (this.sweeping || !this.app.serving()) return
    this.sweeping = true
    await contain(this.app, 'fan-out.sweep', async () => {
      const { store, clock, config } = this.app
      for (const key of await store.abandonedClaims(clock.now(), SWEEP_LIMIT)) {
        const taken = await store.takeClaim(key, this.owner, config.claims.leaseMs, clock.now())
        if (!taken) continue
        this.app.log.warn({ claim: key, from: taken.progress }, 'resuming a fan-out another instance left unfinished')
        await this.carry(key, taken.work as FanOut, taken.progress)
      }
    })
    this.sweeping = false
  }

  /** Delivers from `from` on, renewing the lease as it goes; stops (undone, for another to resume) when the lease is lost or the server stops. */
  private async carry(key: string, work: FanOut | undefined, from: number): Promise<void> {
    const { store, clock, config } = this.app
    if (!work) {
      await store.finishClaim(key, this.owner, clock.now())
      return
    }
    let progress = from
    let held = true
    // A slow batch must not look like a crash.
    const keepAlive = setInterval(() => {
      void store.renewClaim(key, this.owner, config.claims.leaseMs, clock.now(), progress).then(
        (still) => (held &&= still),
        () => {},
      )
    }, Math.max(50, Math.floor(config.claims.leaseMs / 3))).unref()
    try {
      while (progress < work.users.length) {
        if (!held || !this.app.serving()) return
        const next = Math.min(work.users.length, progress + FAN_OUT_BATCH)
        await notify(this.app, work.school, work.users.slice(progress, next), work.id, work.item)
        progress = next
        held &&= await store.renewClaim(key, this.owner, config.claims.leaseMs, clock.now(), progress)
      }
      if (!held || !this.app.serving()) return
      if (work.event && !(await this.published(work.event, () => held))) return
      if (work.webhook) void this.webhook.send(work.webhook.event, work.webhook.delivery, work.webhook.payload)
      await store.finishClaim(key, this.owner, clock.now())
    } finally {
      clearInterval(keepAlive)
    }
  }

  /**
   * Publishes `event` and waits until its dedup key is in Redis (set with the stream entry, in one
   * script), publishing again while it is missing. False when the lease was lost or the server
   * stops first: the claim stays undone, and whoever resumes it publishes again (ids make that harmless).
   */
  private async published(event: OutboundEvent, held: () => boolean): Promise<boolean> {
    const redis = this.app.redis
    this.app.eventsOut.publish(event)
    // Without Redis, events are decided by a store claim of their own and there is no stream to look in.
    if (!redis || !this.app.config.redisUrl) return true
    const key = `${this.app.config.redisKeyPrefix}event-out:${event.id}`
    let lastPublish = Date.now()
    while (held() && this.app.serving()) {
      const present = await redis.exists(key).then((n) => n === 1, () => false)
      if (present) return true
      await new Promise((resolve) => setTimeout(resolve, EVENT_CHECK_MS))
      if (Date.now() - lastPublish >= EVENT_REPUBLISH_MS) {
        lastPublish = Date.now()
        this.app.eventsOut.publish(event)
      }
    }
    return false
  }
}
