// Token buckets keyed by caller: `rate` per second on average, bursts of twice that.
export class TokenBuckets {
  private readonly rate: number
  private readonly buckets = new Map<string, { tokens: number; refilledAt: number }>()

  constructor(ratePerSec: number) {
    this.rate = ratePerSec
  }

  /** Takes `cost` tokens (default one) for `key`; false when the caller is over its rate. */
  take(key: string, now = Date.now(), cost = 1): boolean {
    if (this.buckets.size > 10_000) this.sweep(now)
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

  /** Drops buckets that have been full for a while, so idle callers cost no memory. */
  sweep(now = Date.now()): void {
    for (const [key, bucket] of this.buckets) if (now - bucket.refilledAt > 60_000) this.buckets.delete(key)
  }
}
