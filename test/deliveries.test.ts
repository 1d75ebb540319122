// Deliveries: every inbox item is recorded per recipient, delivered once a client of theirs holds
// it (live, or on their next connect, or fetched over HTTP) and read once they mark it. The sender
// asks who is still pending; a school's statistics count items by type and priority with their
// rates; an urgent item nobody received in UNDELIVERED_AFTER_S fires notification.undelivered
// (signed webhook), once. Deadlines follow a ManualClock.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { useServer } from './helpers/server.ts'
import { closeClients, open, until } from './helpers/clients.ts'
import { admin, claims, mintToken, student, teacher } from './helpers/tokens.ts'
import { api, assertError } from './helpers/api.ts'
import { putRoster, webhookReceiver, type WebhookReceiver } from './helpers/safety.ts'
import { ManualClock } from './helpers/clock.ts'
import { markItemRead } from '../docs-model/surfaces/inbox/surface.ts'

const SERVICE_TOKEN = 'service-token-0123456789abcdef'
const clock = new ManualClock()
let receiver: WebhookReceiver
test.before(async () => {
  receiver = await webhookReceiver()
})
const server = useServer(() => ({ SERVICE_TOKEN, UNDELIVERED_AFTER_S: '5', EVENTS_WEBHOOK_URL: receiver.url }), { clock })
test.before(() =>
  putRoster(server, 's1', [
    { id: 'u1', name: 'Ana', role: 'student', classes: ['7a'] },
    { id: 'u2', name: 'Ben', role: 'student', classes: ['7a'] },
    { id: 'u3', name: 'Cat', role: 'student', classes: ['7b'] },
    { id: 't1', name: 'Tess', role: 'teacher', classes: ['7a'] },
  ]),
)
test.after.each(closeClients)
test.after(() => receiver.close())

let id: string
const status = async (token: string, item = id) => api(server, 'GET', `/api/v1/notifications/${encodeURIComponent(item)}`, { token })

test('the sender sees who received and read an item, as recipients connect and read', async () => {
  const online = await open(server, 's1/inbox/u1', student('u1'))
  const t1 = await mintToken(teacher('t1', { classes: ['7a'] }))
  const sent = await api(server, 'POST', '/api/v1/notifications', { token: t1, json: { school: 's1', targets: { classes: ['7a'] }, type: 'homework', title: 'Read p. 4', body: '', priority: 'high' } })
  assert.is(sent.status, 202)
  id = sent.json.id
  await until(async () => (await status(t1)).json?.recipients === 3 && (await status(t1)).json.delivered === 1, { what: 'every recipient recorded, the live one delivered' })
  assert.equal((await status(t1)).json, { id, recipients: 3, delivered: 1, read: 0, pending: ['t1', 'u2'], unread: ['t1', 'u1', 'u2'] })

  markItemRead(online.doc, id)
  await online.acknowledged()
  await until(async () => (await status(t1)).json.read === 1, { what: 'the read mark recorded' })
  await open(server, 's1/inbox/u2', student('u2'))
  await until(async () => (await status(t1)).json.delivered === 2, { what: 'delivered on the next connect' })
  // Fetching the inbox over HTTP delivers too.
  await api(server, 'GET', '/api/v1/me/inbox', { token: t1 })
  assert.equal((await status(t1)).json.pending, [])
  assert.equal((await status(t1)).json.unread, ['t1', 'u2'])
})

test('who may ask about an item', async () => {
  assert.is((await status(await mintToken(admin()))).status, 200)
  assert.is((await status(SERVICE_TOKEN)).status, 200)
  assertError(await status(await mintToken(teacher('t2'))), 403)
  assertError(await status(await mintToken(student('u1'))), 403)
  assertError(await status(await mintToken(admin('a2', { schools: ['s2'] }))), 404)
  assertError(await status(SERVICE_TOKEN, 'notification:t1:nothing'), 404)
})

test('statistics count items by type and priority with delivery and read rates', async () => {
  await open(server, 's1/inbox/u1', student('u1'))
  await api(server, 'POST', '/api/v1/events', { token: SERVICE_TOKEN, json: [{ id: 'st-1', school: 's1', type: 'fee', targets: { users: ['u1', 'u3'] }, title: 'Fee', priority: 'low' }] })
  await until(async () => (await api(server, 'GET', '/api/v1/schools/s1/statistics', { token: SERVICE_TOKEN })).json.byType.fee?.recipients === 2, { what: 'the event recorded' })
  await until(async () => (await status(SERVICE_TOKEN, 'event:st-1')).json.delivered === 1, { what: 'u1 delivered' })
  const stats = (await api(server, 'GET', '/api/v1/schools/s1/statistics?since=0', { token: await mintToken(admin()) })).json
  assert.equal(stats.byType.homework, { recipients: 3, items: 1, delivered: 3, read: 1, deliveryRate: 1, readRate: 0.333 })
  assert.equal(stats.byType.fee, { recipients: 2, items: 1, delivered: 1, read: 0, deliveryRate: 0.5, readRate: 0 }, 'u1 is connected, u3 never')
  assert.equal(stats.byPriority.low, stats.byType.fee)
  assert.is(stats.total.recipients, 5)
  const later = (await api(server, 'GET', `/api/v1/schools/s1/statistics?since=${new Date(clock.now() + 1000).toISOString()}`, { token: SERVICE_TOKEN })).json
  assert.is(later.total.recipients, 0)
  assertError(await api(server, 'GET', '/api/v1/schools/s1/statistics', { token: await mintToken(teacher('t1')) }), 403)
  assertError(await api(server, 'GET', '/api/v1/schools/s1/statistics?since=soon', { token: SERVICE_TOKEN }), 400)
})

test('an urgent item nobody received in UNDELIVERED_AFTER_S fires notification.undelivered once', async () => {
  await open(server, 's1/inbox/u1', student('u1'))
  await api(server, 'POST', '/api/v1/events', { token: SERVICE_TOKEN, json: [{ id: 'urgent-1', school: 's1', type: 'closure', targets: { users: ['u1', 'u3'] }, title: 'School closed today', priority: 'urgent' }] })
  await until(async () => (await status(SERVICE_TOKEN, 'event:urgent-1')).json?.delivered === 1, { what: 'u1 delivered' })
  const undelivered = () => receiver.deliveries.filter((d) => d.body.event === 'notification.undelivered' && d.body.data.item === 'event:urgent-1')
  await until(async () => {
    await clock.advance(5000)
    return undelivered().length > 0
  }, { what: 'notification.undelivered' })
  await clock.advance(20_000)
  const [hook] = undelivered()
  assert.is(undelivered().length, 1)
  assert.is(hook.body.delivery, 'notification.undelivered:s1:event:urgent-1:u3')
  assert.equal({ ...hook.body.data, recordedAt: 0 }, { item: 'event:urgent-1', user: 'u3', type: 'closure', priority: 'urgent', title: 'School closed today', recordedAt: 0 })
  assert.not.ok(receiver.deliveries.some((d) => d.body.event === 'notification.undelivered' && d.body.data.priority === 'low'), 'low items never fire')
})

test.run()
