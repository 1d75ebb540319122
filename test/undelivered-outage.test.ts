// notification.undelivered survives the way out being away: while Redis (the outbound stream) is
// down, the sweep's publish fails and the item is not marked reported; once Redis is back, the
// next sweep publishes it, once. Deadlines follow a ManualClock.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { Redis as IORedis } from 'ioredis'
import { useServer } from './helpers/server.ts'
import { until } from './helpers/clients.ts'
import { api } from './helpers/api.ts'
import { putRoster } from './helpers/safety.ts'
import { ManualClock } from './helpers/clock.ts'
import { startPrivateRedis, type PrivateRedis } from './helpers/services.ts'

const SERVICE_TOKEN = 'service-token-0123456789abcdef'
const OUT = 'undelivered-out'
const ID = 'notification.undelivered:s1:event:outage-urgent:u9'
const clock = new ManualClock()
let redis: PrivateRedis | undefined
test.before(async () => {
  redis = await startPrivateRedis()
})
const server = useServer(() => ({ SERVICE_TOKEN, ...(redis ? { REDIS_URL: redis.url } : {}), EVENTS_OUT_STREAM: OUT, UNDELIVERED_AFTER_S: '5' }), { clock })
test.after(() => redis?.stop())

const failedPublishes = async () => (await server.app.metrics.eventsOutFailed.get()).values.find((v) => v.labels.type === 'notification.undelivered')?.value ?? 0

async function streamedIds(): Promise<string[]> {
  const reader = new IORedis(redis!.url, { lazyConnect: true, maxRetriesPerRequest: 1 })
  try {
    await reader.connect()
    const entries = (await reader.xrange(OUT, '-', '+')) as Array<[string, string[]]>
    return entries.map(([, fields]) => fields[fields.indexOf('id') + 1])
  } finally {
    reader.disconnect()
  }
}

test('an undelivered urgent item is reported once the outbound stream is back, not lost while it was away', async () => {
  if (!redis) return // the helper printed why (no redis-server)
  await putRoster(server, 's1', [{ id: 'u9', name: 'Nia', role: 'student' }])
  const posted = await api(server, 'POST', '/api/v1/events', { token: SERVICE_TOKEN, json: [{ id: 'outage-urgent', school: 's1', type: 'closure', targets: { users: ['u9'] }, title: 'Closed', priority: 'urgent' }] })
  assert.is(posted.status, 202)
  await redis.stop()
  await until(async () => {
    await clock.advance(5000)
    return (await failedPublishes()) > 0
  }, { what: 'a sweep failing to publish while Redis is down' })
  await redis.start()
  await until(async () => {
    await clock.advance(5000)
    return (await streamedIds()).includes(ID)
  }, { what: 'notification.undelivered published after Redis came back' })
  assert.is((await streamedIds()).filter((id) => id === ID).length, 1)
})

test.run()
