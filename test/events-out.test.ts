// Events out, on a server with a real Redis, a real PostgreSQL and a real webhook receiver that
// refuses the first attempt: every derived fact a back end cares about (exam opened, submitted,
// closed with scores; proctoring alerts; emergency created, acknowledged, escalated, cleared; bus arrived,
// speeding, off route, stale; poll closed; an urgent item undelivered; a director switching
// school; users connecting and disconnecting) is one entry of the outbound stream and one signed
// webhook delivery (after its retry), under a stable id. A second instance on the same store and
// Redis deriving the same fact publishes nothing more. Deadlines follow a ManualClock.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { randomBytes } from 'node:crypto'
import { Redis as IORedis } from 'ioredis'
import { startServer, useServer, type TestServer } from './helpers/server.ts'
import { closeClients, connect, DEADLINE_MS, open, until, within } from './helpers/clients.ts'
import { admin, claims, mintToken, student, teacher } from './helpers/tokens.ts'
import { api } from './helpers/api.ts'
import { putRoster, webhookReceiver, type WebhookReceiver } from './helpers/safety.ts'
import { ManualClock } from './helpers/clock.ts'
import { freshDatabase, redisReachable, SHARED_REDIS_URL, type TestDatabase } from './helpers/services.ts'
import { signature } from '../server/webhook.ts'
import { EventsOut, OUTBOUND_TYPES } from '../server/events/outbound.ts'
import { Metrics } from '../server/metrics.ts'
import type { OutboxStore } from '../server/store/events.ts'
import { answer, reportEvent, submit } from '../docs-model/surfaces/exam/surface.ts'
import { setupPoll, vote } from '../docs-model/surfaces/poll/surface.ts'
import { reportPosition } from '../docs-model/surfaces/bus/surface.ts'
import { clearEmergency } from '../docs-model/surfaces/emergency/surface.ts'

const SECRET = 'events-webhook-secret'
const SERVICE_TOKEN = 'service-token-0123456789abcdef'
const RUN = randomBytes(4).toString('hex')
const OUT = `evout-${RUN}`
const PREFIX = `evout-${RUN}:`
let receiver: WebhookReceiver
let db: TestDatabase | undefined
const clock = new ManualClock()
const env = () => ({
  ...(db ? { DATABASE_URL: db.url } : {}),
  SERVICE_TOKEN,
  REDIS_URL: SHARED_REDIS_URL,
  REDIS_KEY_PREFIX: PREFIX,
  EVENTS_OUT_STREAM: OUT,
  EVENTS_WEBHOOK_URL: receiver.url,
  EVENTS_WEBHOOK_SECRET: SECRET,
  EVENTS_WEBHOOK_RETRY_MS: '20',
  UNDELIVERED_AFTER_S: '5',
  EMERGENCY_ESCALATE_AFTER_S: '5',
  BUS_STALE_AFTER_S: '5',
})
test.before(async () => {
  receiver = await webhookReceiver({ failFirst: 1 })
  db = await freshDatabase('events_out')
})
const server = useServer(env, { clock })
const redis = new IORedis(SHARED_REDIS_URL, { lazyConnect: true })
let reachable = false
test.before(async () => {
  reachable = await redisReachable()
  if (reachable) await redis.connect()
  await putRoster(server, 's1', [
    { id: 'u1', name: 'Ana', role: 'student', classes: ['7a'] },
    { id: 'u2', name: 'Ben', role: 'student', classes: ['7a'] },
    { id: 't1', name: 'Tess', role: 'teacher', classes: ['7a'] },
    { id: 'a1', name: 'Ada', role: 'admin' },
    { id: 'u9', name: 'Nia', role: 'student', classes: ['7c'] },
  ])
})
test.after.each(closeClients)
test.after(async () => {
  await receiver.close()
  if (reachable) {
    const keys = await redis.keys(`${PREFIX}*`) // the dedup keys, kept eight days otherwise
    await redis.del(OUT, ...keys)
  }
  redis.disconnect()
})
test.after(async () => {
  await db?.drop()
})

interface Out {
  id: string
  type: string
  school: string
  at: number
  data: any
}
async function streamed(): Promise<Out[]> {
  const entries = (await redis.xrange(OUT, '-', '+')) as Array<[string, string[]]>
  return entries.map(([, f]) => {
    const fields = Object.fromEntries(f.flatMap((v, i) => (i % 2 ? [] : [[v, f[i + 1]]])))
    return { id: fields.id, type: fields.type, school: fields.school, at: Number(fields.at), data: JSON.parse(fields.data) }
  })
}
/** The one stream entry and the one webhook delivery of `id`, once both are there; asserts they agree. */
async function published(id: string): Promise<Out> {
  await until(async () => (await streamed()).some((e) => e.id === id) && receiver.deliveries.some((d) => d.body.delivery === id), { what: `${id} in the stream and at the webhook` })
  const entries = (await streamed()).filter((e) => e.id === id)
  const hooks = receiver.deliveries.filter((d) => d.body.delivery === id)
  assert.is(entries.length, 1, `${id}: one stream entry`)
  assert.is(hooks.length, 1, `${id}: one webhook delivery`)
  const [entry] = entries
  const hook = hooks[0]
  assert.is(hook.headers['x-homeroom-event'], entry.type)
  assert.is(hook.headers['x-homeroom-delivery'], id)
  assert.is(hook.headers['x-homeroom-signature'], signature(SECRET, String(hook.headers['x-homeroom-timestamp']), hook.raw))
  assert.equal(hook.body, { event: entry.type, delivery: id, school: entry.school, at: entry.at, data: entry.data })
  return entry
}
const typesOf = async (prefix: string) => (await streamed()).filter((e) => e.type.startsWith(prefix)).map((e) => e.type)

test('users connecting and disconnecting: one event each per minute however often they flap, signed, retried after a refusal', async () => {
  if (!reachable) return
  const minute = Math.floor(clock.now() / 60_000)
  const client = await open(server, 's1/doc/d1', student('u1'))
  const connected = await published(`user.connected:s1:u1:${minute}`)
  assert.equal(connected.data, { user: 'u1', role: 'student', device: 'unknown', instance: server.app.config.instanceId })
  assert.ok(receiver.attempts > receiver.deliveries.length, 'the first attempt was refused and retried')
  client.provider.destroy()
  await published(`user.disconnected:s1:u1:${minute}`)
  // Flapping inside the minute: nothing more.
  for (let i = 0; i < 3; i++) (await open(server, 's1/doc/d1', student('u1'))).provider.destroy()
  // The next minute: a new pair of events.
  await clock.advance(60_000)
  const again = await open(server, 's1/doc/d1', student('u1'))
  await published(`user.connected:s1:u1:${minute + 1}`)
  again.provider.destroy()
  await published(`user.disconnected:s1:u1:${minute + 1}`)
  assert.equal((await typesOf('user.')).sort(), ['user.connected', 'user.connected', 'user.disconnected', 'user.disconnected'])
})

test('an exam: opened, submitted, closed with scores, and its proctoring alerts', async () => {
  if (!reachable) return
  const t = await mintToken(teacher('t1', { classes: ['7a'] }))
  const exam = connect(server.url, 's1/exam/x1', t)
  const key = connect(server.url, 's1/exam/x1/key', t)
  await within(Promise.all([exam.synced, key.synced]), DEADLINE_MS, 'teacher sync')
  const opensAt = clock.now() + 1000
  exam.doc.transact(() => {
    exam.doc.getArray('questions').push([{ prompt: 'Q', choices: ['a', 'b'] }])
    exam.doc.getMap('meta').set('title', 'Quiz')
    exam.doc.getMap('meta').set('startsAt', new Date(opensAt).toISOString())
    exam.doc.getMap('meta').set('durationSec', 60)
  })
  key.doc.getMap('key').set('0', 1)
  await Promise.all([exam.acknowledged(), key.acknowledged()])
  await until(async () => {
    await clock.advanceTo(opensAt)
    return exam.doc.getMap('meta').get('status') === 'open'
  }, { what: 'exam open' })
  assert.equal((await published('exam.opened:s1/exam/x1')).data, { exam: 's1/exam/x1' })

  const sheet = await open(server, 's1/exam/x1/student/u1', student('u1'))
  answer(sheet.doc, 0, 1)
  reportEvent(sheet.doc, 'tab_switch', clock.now())
  submit(sheet.doc)
  await sheet.acknowledged()
  const submitted = await published('exam.submitted:s1/exam/x1/student/u1')
  assert.equal(submitted.data, { exam: 's1/exam/x1', user: 'u1' })
  await until(async () => (await streamed()).some((e) => e.type === 'proctoring.alert'), { what: 'a proctoring alert' })
  const first = (await streamed()).find((e) => e.type === 'proctoring.alert')!
  assert.is(first.data.user, 'u1')
  assert.is(first.data.type, 'tab_switch')
  await published(first.id)

  await until(async () => {
    await clock.advanceTo(opensAt + 60_000)
    return exam.doc.getMap('meta').get('status') === 'closed'
  }, { what: 'exam closed' })
  const closed = await published('exam.closed:s1/exam/x1')
  assert.equal(closed.data, { exam: 's1/exam/x1', scores: { u1: 1 } })
})

test('a poll closing publishes its tallies once', async () => {
  if (!reachable) return
  const closesAt = clock.now() + 5000
  const poll = await open(server, 's1/poll/p1', teacher('t1'))
  setupPoll(poll.doc, 'Lunch?', ['pizza', 'soup'], closesAt)
  await poll.acknowledged()
  const ballot = await open(server, 's1/poll/p1/ballot/u2', student('u2'))
  vote(ballot.doc, 1)
  await ballot.acknowledged()
  await until(async () => {
    await clock.advanceTo(closesAt)
    return poll.doc.getMap('results').has('closedAt')
  }, { what: 'poll closed' })
  const closed = await published(`poll.closed:s1/poll/p1:${closesAt}`)
  assert.equal(closed.data.tallies, { 0: 0, 1: 1 })
  assert.is(closed.data.total, 1)
})

test('an emergency: created, acknowledged per user, escalated', async () => {
  if (!reachable) return
  const started = await api(server, 'POST', '/api/v1/schools/s1/emergencies', { token: SERVICE_TOKEN, json: { title: 'Lockdown', message: 'Stay inside', level: 'critical', targetRoles: ['student'] } })
  assert.is(started.status, 201)
  const name = started.json.document
  const created = await published(`emergency.created:${name}`)
  assert.equal(created.data, { emergency: name, title: 'Lockdown', level: 'critical', targetRoles: ['student'], targeted: 3 })
  const u1 = await open(server, name, student('u1'))
  u1.doc.getMap('acks').set('u1', { at: clock.now() })
  await u1.acknowledged()
  assert.equal((await published(`emergency.acknowledged:${name}:u1`)).data, { emergency: name, user: 'u1', role: 'student' })
  await until(async () => {
    await clock.advance(5000)
    return (await streamed()).some((e) => e.type === 'emergency.escalated')
  }, { what: 'escalation' })
  const escalated = await published(`emergency.escalated:${name}:1`)
  assert.equal(escalated.data.unacknowledged, ['u2', 'u9'])
  assert.is((await typesOf('emergency.')).filter((t) => t === 'emergency.acknowledged').length, 1, 'u2 and u9 never acknowledged')
  const a1 = await open(server, name, admin('a1'))
  const clearedAt = clock.now()
  clearEmergency(a1.doc, 'a1', clearedAt)
  await a1.acknowledged()
  const cleared = await published(`emergency.cleared:${name}`)
  // The loop above may have let more than one escalation through; none follows the all clear, and
  // the event counts those the document recorded.
  const recorded = (await server.app.peek(name)).getMap('status').get('escalations') as number
  assert.ok(recorded >= 1, 'escalated before the all clear')
  assert.equal(cleared.data, { emergency: name, title: 'Lockdown', by: 'a1', targeted: 3, acked: 1, escalations: recorded })
  assert.is(cleared.at, clearedAt)
})

test('a bus: arrived, speeding, off route, stale; an episode is one event', async () => {
  if (!reachable) return
  const adminDoc = await open(server, 's1/bus/b1', admin())
  adminDoc.doc.transact(() => {
    adminDoc.doc.getMap('route').set('stops', [
      { id: 'A', name: 'Depot', lat: 52.5, lng: 13.4, radiusM: 40 },
      { id: 'B', name: 'School', lat: 52.51, lng: 13.4, radiusM: 40 },
    ])
    adminDoc.doc.getMap('route').set('speedLimitKmh', 50)
  })
  await adminDoc.acknowledged()
  const car = await open(server, 's1/bus/b1', claims.driver('d1', { buses: ['b1'] }))
  const t0 = clock.now()
  const fixes = [
    { lat: 52.5, lng: 13.4, speed: 0, heading: 0, at: t0 },
    { lat: 52.502, lng: 13.4, speed: 70, heading: 0, at: t0 + 1000 },
    { lat: 52.503, lng: 13.4, speed: 72, heading: 0, at: t0 + 2000 },
    { lat: 52.504, lng: 13.41, speed: 30, heading: 0, at: t0 + 3000 },
  ]
  for (const fix of fixes) reportPosition(car.doc, fix)
  await car.acknowledged()
  await published(`bus.arrived:s1/bus/b1:arrived:A:${t0}`)
  assert.is((await published(`bus.speeding:s1/bus/b1:speeding:${t0 + 1000}`)).data.bus, 's1/bus/b1')
  await published(`bus.off_route:s1/bus/b1:off_route:${t0 + 3000}`)
  assert.is((await typesOf('bus.speeding')).length, 1, 'two speeding fixes are one episode')
  await until(async () => {
    await clock.advance(5000)
    return (await streamed()).some((e) => e.type === 'bus.stale')
  }, { what: 'stale' })
  await published(`bus.stale:s1/bus/b1:stale:${t0 + 3000}`)
})

test('an urgent item its recipient never received in UNDELIVERED_AFTER_S: notification.undelivered', async () => {
  if (!reachable) return
  const posted = await api(server, 'POST', '/api/v1/events', { token: SERVICE_TOKEN, json: [
    { id: 'out-urgent', school: 's1', type: 'closure', targets: { users: ['u9'] }, title: 'Closed', priority: 'urgent' },
    { id: 'out-high', school: 's1', type: 'closure', targets: { users: ['u9'] }, title: 'Bring boots', priority: 'high' },
    { id: 'out-normal', school: 's1', type: 'closure', targets: { users: ['u9'] }, title: 'Menu', priority: 'normal' },
  ] })
  assert.is(posted.status, 202)
  const id = 'notification.undelivered:s1:event:out-urgent:u9'
  await until(async () => {
    await clock.advance(5000)
    return (await streamed()).some((e) => e.id === id)
  }, { what: 'notification.undelivered' })
  const undelivered = await published(id)
  assert.equal({ ...undelivered.data, recordedAt: 0 }, { item: 'event:out-urgent', user: 'u9', type: 'closure', priority: 'urgent', title: 'Closed', recordedAt: 0 })
  assert.is((await published('notification.undelivered:s1:event:out-high:u9')).data.priority, 'high')
})

test('a director switching school: school.context_switched, one per change', async () => {
  if (!reachable) return
  const director = await mintToken(claims.director('d1', { schools: ['s1', 's2'] }))
  for (const school of ['s2', 's1', 's1']) assert.is((await api(server, 'PUT', '/api/v1/me/school', { token: director, json: { school } })).status, 200)
  await until(async () => (await typesOf('school.context_switched')).length >= 2, { what: 'two switches out' })
  const switches = (await streamed()).filter((e) => e.type === 'school.context_switched')
  assert.is(switches.length, 2, 'staying in s1 is no switch')
  for (const entry of switches) await published(entry.id)
  assert.equal(switches.map((e) => [e.school, e.data]), [
    ['s2', { user: 'd1', role: 'director', from: null, to: 's2' }],
    ['s1', { user: 'd1', role: 'director', from: 's2', to: 's1' }],
  ])
  // The same millisecond on the ManualClock: the ids still differ, as the changes do.
  assert.is(new Set(switches.map((e) => e.id)).size, 2)
})

test('a second instance publishing the same fact adds nothing', async () => {
  if (!reachable) return
  const other: TestServer = await startServer(env(), { clock })
  try {
    const event = { type: 'exam.closed', id: 'exam.closed:s1/exam/twice', school: 's1', data: { exam: 's1/exam/twice', scores: {} } } as const
    server.app.eventsOut.publish(event)
    other.app.eventsOut.publish(event)
    await published(event.id)
    // A third publish, after both settled, finds the id taken too.
    other.app.eventsOut.publish(event)
    const marker = { ...event, id: 'exam.closed:s1/exam/marker' }
    other.app.eventsOut.publish(marker)
    await published(marker.id)
    assert.is((await streamed()).filter((e) => e.id === event.id).length, 1)
  } finally {
    await other.stop()
  }
})

test('a store that refuses the webhook outbox does not keep an event from the stream; the failure is counted', async () => {
  if (!reachable) return
  const refusing = { enqueueWebhook: async () => Promise.reject(new Error('store away')), webhooksWaiting: async () => 0 } as unknown as OutboxStore
  const metrics = new Metrics()
  const out = new EventsOut({ config: server.app.config, log: server.app.log, metrics, outbox: refusing })
  out.publish({ type: 'exam.closed', id: 'exam.closed:s1/exam/store-away', school: 's1', data: { exam: 's1/exam/store-away', scores: {} } })
  await until(async () => (await streamed()).some((e) => e.id === 'exam.closed:s1/exam/store-away'), { what: 'the event in the stream' })
  await out.stop()
  assert.is((await streamed()).filter((e) => e.id === 'exam.closed:s1/exam/store-away').length, 1)
  assert.match(await metrics.registry.getSingleMetricAsString('homeroom_events_out_failures_total'), /type="exam.closed"\} 1/)
})

test('every outbound type was published above, in the stream and at the webhook', async () => {
  if (!reachable) return
  const streamedTypes = new Set((await streamed()).map((e) => e.type))
  const hookedTypes = new Set(receiver.deliveries.map((d) => d.body.event))
  assert.equal(OUTBOUND_TYPES.filter((t) => !streamedTypes.has(t) || !hookedTypes.has(t)), [], 'types no test above published')
  assert.not.ok((await streamed()).some((e) => e.id.includes('event:out-normal')), 'a normal item never fires notification.undelivered')
})

test.run()
