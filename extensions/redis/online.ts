// Who is connected to a document across instances, for state derived from it (the exam
// monitor's `online`). One instance only knows its own connections: the one a student left may
// not be where the student is now (a paused instance wakes and closes a socket the student gave
// up long ago), and a killed instance runs no disconnect hook at all. So each instance records
// in Redis, per document, that it holds such a connection, with an expiry it renews while it
// does; a document is online while some instance's record has not run out. Records that ran out
// (their instance died or stalled) are handed, each to one instance, by `expired()`, so the
// state derived from them is corrected although nobody disconnected. Times are Redis' own.
//
// Keys: `<prefix>online:<doc>` (a sorted set of instance owners scored by expiry) and
// `<prefix>online-expiry` (every record as `<owner> <doc>`, scored alike, for `expired`).
import type { Redis } from 'ioredis'

/** How long a record lasts unless renewed: a dead instance's connections count this long at most. */
export const ONLINE_TTL_MS = 3000
/** Records are renewed this often, well within their expiry. */
export const ONLINE_RENEW_MS = 1000

const NOW = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`

/** KEYS: doc set, index; ARGV: owner, doc, ttl, present (1/0). Returns {instances online, whether this owner's record was live}. */
const MARK = `${NOW}
local record = ARGV[1] .. ' ' .. ARGV[2]
local expires = tonumber(redis.call('ZSCORE', KEYS[1], ARGV[1]) or 0)
local live = 0
if expires > now then live = 1 end
if ARGV[4] == '1' then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
  redis.call('ZADD', KEYS[2], now + tonumber(ARGV[3]), record)
else
  redis.call('ZREM', KEYS[1], ARGV[1])
  redis.call('ZREM', KEYS[2], record)
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
return {redis.call('ZCARD', KEYS[1]), live}`

/** KEYS: index; ARGV: limit. Removes and returns records that ran out, as `<owner> <doc>`. */
const EXPIRED = `${NOW}
local records = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[1]))
for _, record in ipairs(records) do redis.call('ZREM', KEYS[1], record) end
return records`

export interface Marked {
  /** Some instance (this one included) holds a connection to the document. */
  online: boolean
  /** This instance's record was there, not run out: false after a stall or a Redis outage, when others may have taken it for gone. */
  wasLive: boolean
}

export interface OnlineRecords {
  /** Records whether this instance holds a connection to `doc`. Rejects while Redis is unreachable. */
  mark(doc: string, present: boolean): Promise<Marked>
  /** Documents of records that ran out since the last call (each handed to one caller). */
  expired(limit: number): Promise<string[]>
}

export function onlineRecords(redis: Redis, prefix: string, owner: string): OnlineRecords {
  const index = `${prefix}online-expiry`
  return {
    async mark(doc, present) {
      const [count, live] = (await redis.eval(MARK, 2, `${prefix}online:${doc}`, index, owner, doc, ONLINE_TTL_MS, present ? '1' : '0')) as [number, number]
      return { online: count > 0, wasLive: live === 1 }
    },
    async expired(limit) {
      const records = (await redis.eval(EXPIRED, 1, index, limit)) as string[]
      return [...new Set(records.map((record) => record.slice(record.indexOf(' ') + 1)))]
    },
  }
}
