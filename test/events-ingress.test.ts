// Events in, on one server with a real Redis: an entry of the events stream lands in each
// recipient's inbox; its id is the idempotency key (a second entry with the id adds nothing, the
// id with other content is dead-lettered); malformed entries and events that keep failing go to
// the dead-letter stream with their reason; a failure is retried. POST /api/v1/events takes the
// same events in batches. The metrics count what happened, the group's pending entries too.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { join } from 'node:path'
import { rmSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { Redis as IORedis } from 'ioredis'
import { startServer, tempDir, useServer } from './helpers/server.ts'
import { closeClients, open, until } from './helpers/clients.ts'
import { admin, claims, mintToken, student } from './helpers/tokens.ts'
import { api, assertError } from './helpers/api.ts'
import { FaultyStore } from './helpers/faulty-store.ts'
import { redisReachable, SHARED_REDIS_URL } from './helpers/services.ts'
import { eventItemKey } from '../server/events/incoming.ts'

const SERVICE_TOKEN = 'service-token-0123456789abcdef'
const STREAM = `ev-test-${randomBytes(4).toString('hex')}`
const DEAD = `${STREAM}:dead`
let store: FaultyStore
const server = useServer(
  { SERVICE_TOKEN, REDIS_URL: SHARED_REDIS_URL, EVENTS_STREAM: STREAM, EVENTS_RETRY_MS: '20', EVENTS_MAX_ATTEMPTS: '3', REDIS_KEY_PREFIX: `${STREAM}:` },
  (dataDir) => ({ store: (store = new FaultyStore(join(dataDir, 'homeroom.db'))) }),
)
const redis = new IORedis(SHARED_REDIS_URL, { lazyConnect: true })
let reachable = false

test.before(async () => {
  reachable = await redisReachable()
  if (reachable) await redis.connect()
  const roster = [
    { id: 'u1', name: 'Ana', role: 'student', classes: ['7a'] },
    { id: 'u2', name: 'Ben', role: 'student', classes: ['7a'] },
    { id: 'u3', name: 'Cat', role: 'student', classes: ['7b'] },
    { id: 't1', name: 'Ms T', role: 'teacher', classes: ['7a'] },
  ]
  assert.is((await api(server, 'PUT', '/api/v1/schools/s1/roster', { token: SERVICE_TOKEN, json: roster })).status, 200)
})
test.after.each(closeClients)
test.after(async () => {
  if (reachable) await redis.del(STREAM, DEAD)
  redis.disconnect()
})

const item = async (user: string, key: string) => (await open(server, `s1/inbox/${user}`, student(user))).doc.getMap('items').get(key) as Record<string, unknown> | undefined
const metric = async (name: string): Promise<string[]> => {
  const text = (await server.app.metrics.registry.metrics()).split('\n')
  return text.filter((line) => line.startsWith(name))
}
const deadLetters = async () => ((await redis.xrange(DEAD, '-', '+')) as Array<[string, string[]]>).map(([, f]) => Object.fromEntries(f.flatMap((v, i) => (i % 2 ? [] : [[v, f[i + 1]]]))))
const acknowledged = async () => {
  const [count] = (await redis.xpending(STREAM, 'homeroom')) as [number]
  return count === 0
}

test('a stream entry reaches each recipient once; the same id again adds nothing', async () => {
  if (!reachable) return
  const live = await open(server, 's1/inbox/u2', student('u2'))
  await redis.xadd(STREAM, '*', 'id', 'e-1', 'school', 's1', 'type', 'homework', 'targets', '{"classes":["7a"]}', 'title', 'Fractions', 'body', 'Exercises 1-5', 'priority', 'high', 'data', '{"due":"monday"}')
  const key = eventItemKey('e-1')
  await until(() => live.doc.getMap('items').has(key), { what: 'live delivery from the stream' })
  const got = live.doc.getMap('items').get(key) as Record<string, unknown>
  assert.equal({ ...got, at: 0 }, { type: 'homework', title: 'Fractions', body: 'Exercises 1-5', priority: 'high', data: { due: 'monday' }, at: 0 })
  assert.ok(await item('u1', key), 'the other student of 7a')
  assert.ok(await item('t1', key), 'the teacher of 7a')
  assert.is(await item('u3', key), undefined, 'not 7b')

  // Redelivered (a back end retrying its XADD): acknowledged, nothing new.
  await redis.xadd(STREAM, '*', 'event', JSON.stringify({ id: 'e-1', school: 's1', type: 'homework', targets: { classes: ['7a'] }, title: 'Fractions', body: 'Exercises 1-5', priority: 'high', data: { due: 'monday' } }))
  await until(async () => (await metric('homeroom_events_processed_total{source="stream",outcome="duplicate"}')).length > 0, { what: 'the duplicate counted' })
  assert.ok(await acknowledged())
  assert.equal((live.doc.getMap('items').get(key) as Record<string, unknown>).at, got.at, 'the item is the first delivery')
})

test('malformed entries and an id reused for another event go to the dead-letter stream with their reason', async () => {
  if (!reachable) return
  await redis.xadd(STREAM, '*', 'id', 'e-bad', 'school', 's1', 'type', 'x', 'targets', '{"classes":', 'title', 'T')
  await redis.xadd(STREAM, '*', 'id', 'e-2', 'school', 's1', 'type', 'x', 'targets', '{"users":["u3"]}')
  await redis.xadd(STREAM, '*', 'id', 'e-1', 'school', 's1', 'type', 'homework', 'targets', '{"classes":["7a"]}', 'title', 'Something else')
  await until(async () => (await deadLetters()).length >= 3, { what: 'three dead letters' })
  const reasons = (await deadLetters()).map((d) => d.reason)
  assert.equal(reasons, ['bad-event: targets: not JSON', 'bad-event: title: required, as type x of school s1 declares no title template', 'conflict: event id e-1 was already used for another event; use a new id'])
  const first = (await deadLetters())[0]
  assert.equal(JSON.parse(first.fields).slice(0, 2), ['id', 'e-bad'], 'the entry is kept whole')
  assert.ok(await acknowledged(), 'dead letters are acknowledged')
  assert.is((await item('u1', eventItemKey('e-1')))?.title, 'Fractions', 'the first event stays as it was')
  assert.is(await item('u3', eventItemKey('e-2')), undefined)
})

test('a failed delivery is retried; after EVENTS_MAX_ATTEMPTS it is dead-lettered, never lost', async () => {
  if (!reachable) return
  store.fail('roster', 1)
  await redis.xadd(STREAM, '*', 'id', 'e-retry', 'school', 's1', 'type', 'x', 'targets', '{"users":["u3"]}', 'title', 'Retried')
  await until(async () => (await item('u3', eventItemKey('e-retry'))) !== undefined, { what: 'delivery after a retry' })
  assert.equal(await metric('homeroom_events_failed_total '), ['homeroom_events_failed_total 1'])

  store.fail('roster', -1)
  await redis.xadd(STREAM, '*', 'id', 'e-doomed', 'school', 's1', 'type', 'x', 'targets', '{"users":["u3"]}', 'title', 'Doomed')
  await until(async () => (await deadLetters()).some((d) => d.reason.startsWith('failed 3 times')), { what: 'dead-lettered after three attempts' })
  store.heal()
  const letter = (await deadLetters()).find((d) => d.reason.startsWith('failed'))!
  assert.is(letter.reason, 'failed 3 times; last: injected roster failure')
  assert.ok(await acknowledged())
  assert.equal(await metric('homeroom_events_dead_lettered_total{reason="attempts"}'), ['homeroom_events_dead_lettered_total{reason="attempts"} 1'])
})

test('entries waiting for a retry are pending: the gauge shows them, as Redis does', async () => {
  if (!reachable) return
  const stream = `${STREAM}-pending`
  const dataDir = tempDir()
  const faulty = new FaultyStore(join(dataDir, 'homeroom.db'))
  faulty.fail('roster', -1)
  const slow = await startServer({ SERVICE_TOKEN, REDIS_URL: SHARED_REDIS_URL, EVENTS_STREAM: stream, EVENTS_RETRY_MS: '600000', EVENTS_MAX_ATTEMPTS: '100', REDIS_KEY_PREFIX: `${stream}:` }, { store: faulty, dataDir })
  try {
    for (const n of [1, 2, 3]) await redis.xadd(stream, '*', 'id', `p-${n}`, 'school', 's1', 'type', 'x', 'targets', '{"users":["u3"]}', 'title', 'Waits')
    const gauge = async () => (await slow.app.metrics.registry.getSingleMetricAsString('homeroom_events_pending')).split('\n').find((l) => l.startsWith('homeroom_events_pending '))
    await until(async () => (await gauge()) === 'homeroom_events_pending 3', { what: 'three pending in the gauge' })
    const [pending] = (await redis.xpending(stream, 'homeroom')) as [number]
    assert.is(pending, 3, 'as Redis counts them')
    assert.is((await slow.app.metrics.registry.getSingleMetricAsString('homeroom_events_lag')).split('\n').at(-1), 'homeroom_events_lag 0', 'all read')
  } finally {
    await slow.stop()
    await redis.del(stream)
    rmSync(dataDir, { recursive: true, force: true })
  }
})

test('POST /api/v1/events delivers a batch; a retried request delivers nothing twice', async () => {
  const events = [
    { id: 'h-1', school: 's1', type: 'fee', targets: { users: ['u1'] }, title: 'Fee due', actionUrl: '/fees/1' },
    { id: 'h-2', school: 's1', type: 'fee', targets: { classes: ['7b'] }, title: 'Fee paid', priority: 'low' },
  ]
  const sent = await api(server, 'POST', '/api/v1/events', { token: SERVICE_TOKEN, json: events })
  assert.is(sent.status, 202)
  assert.equal(sent.json.events, [
    { id: 'h-1', item: 'event:h-1', recipients: 1, duplicate: false },
    { id: 'h-2', item: 'event:h-2', recipients: 1, duplicate: false },
  ])
  assert.is((await item('u1', 'event:h-1'))?.actionUrl, '/fees/1')
  assert.is((await item('u3', 'event:h-2'))?.priority, 'low')
  const again = await api(server, 'POST', '/api/v1/events', { token: SERVICE_TOKEN, json: events })
  assert.equal(again.json.events.map((e: { duplicate: boolean }) => e.duplicate), [true, true])

  const reused = await api(server, 'POST', '/api/v1/events', { token: SERVICE_TOKEN, json: [{ ...events[0], title: 'Other' }, { ...events[1], id: 'h-3' }] })
  assertError(reused, 409, 'conflict')
  assert.match(reused.json.error.message, /event id h-1 was already used.*the other 1 were delivered/)
  assert.ok(await item('u3', 'event:h-3'))
})

test('POST /api/v1/events: who may call it, and bad batches named precisely', async () => {
  const event = { id: 'w-1', school: 's1', type: 'x', targets: { users: ['u1'] }, title: 'T' }
  assertError(await api(server, 'POST', '/api/v1/events', { json: [event] }), 401)
  assertError(await api(server, 'POST', '/api/v1/events', { token: await mintToken(claims.teacher('t1', { classes: ['7a'] })), json: [event] }), 403)
  assertError(await api(server, 'POST', '/api/v1/events', { token: await mintToken(admin('a2', { schools: ['s2'] })), json: [event] }), 403)
  const bad = await api(server, 'POST', '/api/v1/events', { token: SERVICE_TOKEN, json: [event, { ...event, id: 'w-2', targets: {} }] })
  assertError(bad, 400, 'bad-request')
  assert.match(bad.json.error.message, /^1\.targets: name at least one user, role or class/)
  const twice = await api(server, 'POST', '/api/v1/events', { token: SERVICE_TOKEN, json: [event, event] })
  assertError(twice, 400)
  assert.match(twice.json.error.message, /w-1 appears twice/)
  assert.is(await item('u1', 'event:w-1'), undefined, 'a refused batch delivers nothing')
})

test.run()
