// Homeroom across instances through Redis: sync.ts (the extension), wire.ts (messages and
// channel names), health.ts (connections and outages).
export { RedisSync, type RedisSyncConfig } from './sync.ts'
export { DEFAULT_PREFIX, documentChannel, redisNamespace, replyChannel } from './wire.ts'
