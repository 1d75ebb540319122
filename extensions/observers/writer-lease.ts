// Derived writes to a document are made by one instance at a time. Several instances may hold a
// document and hear of the same change (through Redis); each would compute and write the same
// derived state, and two concurrent writes of one map key are resolved by Yjs client ids, not by
// which was computed from the newer sources. So before a derived write an instance holds the
// document's writer lease (key `derive:<document>`) in Redis (extensions/redis/leases.ts) or the
// shared store (ClaimStore.takeLease), whichever the caller gives:
//
// - cheap: a lease once held is used without asking the store until half of it has passed, then
//   renewed by the write that finds it so; it is released after IDLE_MS without derived writes
//   (one round trip per burst), and simply runs out when its holder dies or is paused;
// - fair: a holder that held it for MAX_TENURE_LEASES leases gives it up at its next renewal and
//   waits a moment before asking again, so an instance waiting for it gets its turn;
// - the writer that gets the lease next re-reads the document inside its write (the observers
//   write only what differs), and the previous holder's write reached it first: it was published
//   to Redis before that holder's derive() resolved, and is in the journal a fresh load replays.
//
// - unavailable: while the lease cannot be asked for (Redis or the store unreachable), writes go
//   ahead without it. Instances then cannot see each other's writes anyway (they travel through
//   Redis), and every observer writes only what differs, so the worst is a value written twice.
//
// A paused holder whose lease ran out may write once more on waking before it notices (its
// check happened before the pause): the same value as the new holder's, or one that the next
// change corrects. Leases are on the server's clock, like claims.
import type { Clock } from '../../server/clock.ts'
import type { ClaimStore } from '../../server/store/types.ts'

/** The writer lease's length, at most: a crashed or paused holder keeps others waiting this long. */
export const WRITER_LEASE_MAX_MS = 1000
/** A lease unused this long is given back, so another instance need not wait for it to run out. */
const IDLE_MS = 300
/** A holder gives the lease up after this many lease lengths of holding it, at its next renewal. */
const MAX_TENURE_LEASES = 2
/** How long a holder that gave its lease up waits before asking again; waiters poll faster. */
const YIELD_MS = 200
const POLL_MS = 100

interface Held {
  /** Until when the store holds the lease for this instance (the server's clock). */
  until: number
  /** When this instance took it, for the tenure. */
  since: number
  /** Real time of its last use: idleness is about this process's pace of writes. */
  lastUse: number
  idle?: NodeJS.Timeout
}

export class WriterLeases {
  private readonly store: Pick<ClaimStore, 'takeLease' | 'releaseLease'>
  private readonly owner: string
  private readonly clock: Clock
  private readonly ms: number
  private readonly held = new Map<string, Held>()
  /** One request to the store per document at a time; concurrent writers share it. */
  private readonly taking = new Map<string, Promise<Taken>>()
  /** Documents whose lease this instance gave up for fairness, until when (real time) it stays back. */
  private readonly yielded = new Map<string, number>()

  constructor(options: { store: Pick<ClaimStore, 'takeLease' | 'releaseLease'>; owner: string; clock: Clock; leaseMs: number }) {
    this.store = options.store
    this.owner = options.owner
    this.clock = options.clock
    this.ms = Math.min(options.leaseMs, WRITER_LEASE_MAX_MS)
  }

  /** Whether this instance holds `name`'s lease now, as far as it knows without asking. */
  holds(name: string): boolean {
    const held = this.held.get(name)
    return held !== undefined && held.until > this.clock.now()
  }

  /**
   * Resolves true once this instance holds the writer lease of `name` for at least half a lease,
   * waiting while another holds it; false when `active()` turns false first (the server stops).
   * True at once, holding nothing, while the lease cannot be asked for (see above).
   */
  async hold(name: string, active: () => boolean): Promise<boolean> {
    for (;;) {
      if (!active()) return false
      const now = this.clock.now()
      const held = this.held.get(name)
      if (held && held.until - now > this.ms / 2) {
        this.used(name, held)
        return true
      }
      if (held && now - held.since >= MAX_TENURE_LEASES * this.ms) {
        await this.giveUp(name, Date.now() + YIELD_MS)
        continue
      }
      // Real time, like idleness: a server clock a test moves by hand would keep it back for ever.
      const backOff = (this.yielded.get(name) ?? 0) - Date.now()
      if (backOff > 0) {
        await sleep(backOff)
        continue
      }
      this.yielded.delete(name)
      const taken = await this.take(name)
      if (taken === 'unavailable') return active()
      if (taken === 'held') continue
      await sleep(POLL_MS)
    }
  }

  /** Gives every lease back (the server stops). */
  async releaseAll(): Promise<void> {
    const names = [...this.held.keys()]
    await Promise.all(names.map((name) => this.giveUp(name, 0)))
  }

  private take(name: string): Promise<Taken> {
    let taking = this.taking.get(name)
    if (!taking) {
      const now = this.clock.now()
      taking = this.store.takeLease(leaseKey(name), this.owner, this.ms, now).then(
        (ok): Taken => {
          const before = this.held.get(name)
          // A renewal keeps its tenure; a lease that ran out meanwhile (a pause) starts a new one.
          const since = before && before.until >= now ? before.since : now
          if (!ok) this.forget(name)
          else if (before) Object.assign(before, { until: now + this.ms, since })
          else this.held.set(name, { until: now + this.ms, since, lastUse: Date.now() })
          return ok ? 'held' : 'elsewhere'
        },
        (): Taken => {
          this.forget(name)
          return 'unavailable'
        },
      )
      this.taking.set(name, taking)
      void taking.then(() => this.taking.delete(name))
    }
    return taking
  }

  private used(name: string, held: Held): void {
    held.lastUse = Date.now()
    this.armIdle(name, held, IDLE_MS)
  }

  private armIdle(name: string, held: Held, delay: number): void {
    if (held.idle) return
    held.idle = setTimeout(() => {
      held.idle = undefined
      if (this.held.get(name) !== held) return
      const idleFor = Date.now() - held.lastUse
      if (idleFor >= IDLE_MS) void this.giveUp(name, 0)
      else this.armIdle(name, held, IDLE_MS - idleFor)
    }, delay)
    held.idle.unref()
  }

  private async giveUp(name: string, backUntil: number): Promise<void> {
    this.forget(name)
    if (backUntil > 0) this.yielded.set(name, backUntil)
    await this.store.releaseLease(leaseKey(name), this.owner).catch(() => {})
  }

  private forget(name: string): void {
    const held = this.held.get(name)
    if (held?.idle) clearTimeout(held.idle)
    this.held.delete(name)
  }
}

type Taken = 'held' | 'elsewhere' | 'unavailable'

export const leaseKey = (name: string): string => `derive:${name}`

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
