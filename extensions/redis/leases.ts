// Leases in Redis, with the ClaimStore's lease signature (takeLease, releaseLease), for the
// writer leases of derived writes (extensions/observers/writer-lease.ts): a key per lease holding
// its owner, set with an expiry; taken when absent or already the owner's, given back only by
// its owner. A Redis round trip is far cheaper than a PostgreSQL one, and leaves the store's
// small pool to the journal. Keys are `<REDIS_KEY_PREFIX>lease:<key>`.
import type { Redis } from 'ioredis'
import type { ClaimStore } from '../../server/store/types.ts'

const TAKE = `local holder = redis.call('GET', KEYS[1])
if holder == false or holder == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0`

const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`

export type LeaseStore = Pick<ClaimStore, 'takeLease' | 'releaseLease'>

/** Leases on `redis` under `prefix`. Redis keeps time: `now` is not needed. Rejects while Redis is unreachable. */
export function redisLeases(redis: Redis, prefix: string): LeaseStore {
  return {
    async takeLease(key, owner, ms) {
      return (await redis.eval(TAKE, 1, `${prefix}lease:${key}`, owner, Math.max(1, Math.round(ms)))) === 1
    },
    async releaseLease(key, owner) {
      await redis.eval(RELEASE, 1, `${prefix}lease:${key}`, owner)
    },
  }
}
