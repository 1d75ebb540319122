// Token buckets keyed by caller: `rate` per second on average, bursts of twice that.
// A full bucket is the same as none, so buckets that have refilled are dropped as takes go by:
// an idle connection keeps no bucket (10,000 idle sockets would otherwise keep three each).

/** Every this many takes, buckets that have refilled completely are dropped. */
const SWEEP_EVERY = 1024

export class TokenBuckets {
  private readonly rate: number
  private readonly buckets = new Map<string, { tokens: number; refilledAt: number }>()
  private takes = 0

  constructor(ratePerSec: number) {
    this.rate = ratePerSec
  }

  /** Takes `cost` tokens (default one) for `key`; false when the caller is over its rate. */
  take(key: string, now = Date.now(), cost = 1): boolean {
    if (++this.takes % SWEEP_EVERY === 0) this.sweep(now)
    const capacity = this.rate * 2
    const bucket = this.buckets.get(key) ?? { tokens: capacity, refilledAt: now }
    bucket.tokens = Math.min(capacity, bucket.tokens + ((now - bucket.refilledAt) / 1000) * this.rate)
    bucket.refilledAt = now
    this.buckets.set(key, bucket)
    if (bucket.tokens < cost) return false
    bucket.tokens -= cost
    return true
  }

  forget(key: string): void {
    this.buckets.delete(key)
  }

  /** Drops the buckets that are full again (nothing taken since they refilled). */
  sweep(now = Date.now()): void {
    const capacity = this.rate * 2
    for (const [key, bucket] of this.buckets) {
      if (bucket.tokens + ((now - bucket.refilledAt) / 1000) * this.rate >= capacity) this.buckets.delete(key)
    }
  }
}
