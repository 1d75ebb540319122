// Rosters and notifications over HTTP: targets resolved through the roster, one item per
// recipient's inbox, delivered live or found on the next connect; read marks; who may send to
// whom; and the contract's error shape for bad input.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { startServer, type TestServer } from './helpers/server.ts'
import { closeClients, eventually } from './helpers/clients.ts'
import { admin, mintToken, student, teacher } from './helpers/tokens.ts'
import { open } from './helpers/classroom.ts'
import { api, assertError } from './helpers/api.ts'
import { markItemRead, unreadCount } from '../docs-model/surfaces/inbox.ts'

const SERVICE_TOKEN = 'service-token-0123456789abcdef'
let server: TestServer
let adminToken: string
test.before(async () => {
  server = await startServer({ SERVICE_TOKEN })
  adminToken = await mintToken(admin())
  const roster = [
    { id: 'u1', name: 'Ana', role: 'student', classes: ['7a'] },
    { id: 'u2', name: 'Ben', role: 'student', classes: ['7a'] },
    { id: 'u3', name: 'Cat', role: 'student', classes: ['7b'] },
    { id: 'p1', name: 'Ana\'s mother', role: 'parent', children: ['u1'] },
    { id: 't1', name: 'Ms T', role: 'teacher', classes: ['7a'] },
  ]
  const put = await api(server, 'PUT', '/api/v1/schools/s1/roster', { token: adminToken, json: roster })
  assert.is(put.status, 200)
  assert.equal(put.json, { school: 's1', members: 5 })
})
test.after.each(closeClients)
test.after(async () => {
  await server.stop()
})

const notify = (token: string, json: unknown) => api(server, 'POST', '/api/v1/notifications', { token, json })

test('an offline recipient finds the notification on the next connect; an online one receives it live', async () => {
  const online = await open(server, 's1/inbox/u2', student('u2'))
  const sent = await notify(SERVICE_TOKEN, {
    school: 's1',
    targets: { classes: ['7a'], roles: ['parent'] },
    type: 'homework',
    title: 'Fractions',
    body: 'Exercises 1 to 5 by Monday',
    priority: 'high',
    actionUrl: '/homework/42',
  })
  assert.is(sent.status, 202)
  assert.is(sent.json.recipients, 4, 'u1, u2 and t1 of 7a, and the parent p1')
  const id = sent.json.id
  await eventually(() => online.doc.getMap('items').has(id), 5000, 'live delivery')

  const later = await open(server, 's1/inbox/u1', student('u1'))
  const item = later.doc.getMap('items').get(id) as Record<string, unknown>
  assert.is(item.title, 'Fractions')
  assert.is(item.priority, 'high')
  assert.is(item.actionUrl, '/homework/42')
  assert.is(unreadCount(later.doc), 1)

  markItemRead(later.doc, id)
  await later.acknowledged()
  assert.is(unreadCount(later.doc), 0)
  const parent = await open(server, 's1/inbox/p1', { sub: 'p1', role: 'parent', schools: ['s1'], children: ['u1'] })
  assert.ok(parent.doc.getMap('items').has(id))
})

test('a recipient cannot write items into their own inbox', async () => {
  const inbox = await open(server, 's1/inbox/u3', student('u3'))
  inbox.doc.getMap('items').set('fake', { type: 'x', title: 'x', body: 'x', priority: 'urgent', at: 1 })
  assert.match(await inbox.closed, /^forbidden-write: items/)
})

test('posting the same id twice delivers one item', async () => {
  const body = { id: 'trip-2026', school: 's1', targets: { users: ['u3'] }, type: 'trip', title: 'Trip', body: 'Friday' }
  assert.is((await notify(adminToken, body)).status, 202)
  assert.is((await notify(adminToken, { ...body, title: 'Trip (changed)' })).status, 202)
  const inbox = await open(server, 's1/inbox/u3', student('u3'))
  assert.is((inbox.doc.getMap('items').get('trip-2026') as { title: string }).title, 'Trip')
  assert.is(inbox.doc.getMap('items').size, 1)
})

test('teachers notify their own classes and the people in them only', async () => {
  const own = await mintToken(teacher('t1', { classes: ['7a'] }))
  const base = { school: 's1', type: 'note', title: 'Note', body: 'Bring a calculator' }
  const sent = await notify(own, { ...base, targets: { classes: ['7a'] } })
  assert.is(sent.status, 202)
  assert.is((await notify(own, { ...base, targets: { users: ['u1', 'p1'] } })).status, 202)
  assertError(await notify(own, { ...base, targets: { classes: ['7b'] } }), 403, 'forbidden')
  assertError(await notify(own, { ...base, targets: { users: ['u3'] } }), 403, 'forbidden')
  assertError(await notify(own, { ...base, targets: { roles: ['student'] } }), 403, 'forbidden')
})

test('bad requests get the contract error shape with 400, 401, 403, 404 and 413', async () => {
  const good = { school: 's1', targets: { users: ['u1'] }, type: 'note', title: 'Hi', body: '' }
  assertError(await notify('', good), 401, 'unauthenticated')
  assertError(await notify('not-a-token', good), 401, 'unauthenticated')
  assertError(await notify(await mintToken(student('u1')), good), 403, 'forbidden')
  assertError(await notify(adminToken, { ...good, school: 's2' }), 403, 'forbidden')
  assertError(await notify(adminToken, { ...good, title: undefined }), 400, 'bad-request')
  assertError(await notify(adminToken, { ...good, priority: 'extreme' }), 400, 'bad-request')
  assertError(await notify(adminToken, { ...good, targets: {} }), 400, 'bad-request')
  assertError(await notify(adminToken, { ...good, actionUrl: 'javascript:alert(1)' }), 400, 'bad-request')
  assertError(await notify(adminToken, { ...good, unexpected: true }), 400, 'bad-request')
  assertError(await api(server, 'POST', '/api/v1/notifications', { token: adminToken, json: '{not json' }), 400, 'bad-request')
  assertError(await notify(adminToken, { ...good, body: 'x'.repeat(300 * 1024) }), 413, 'too-large')

  const roster = (token: string, json: unknown, school = 's1') => api(server, 'PUT', `/api/v1/schools/${school}/roster`, { token, json })
  assertError(await roster(await mintToken(teacher()), []), 403, 'forbidden')
  assertError(await roster(adminToken, [], 's2'), 403, 'forbidden')
  assertError(await roster(adminToken, [{ id: 'u1', name: 'Ana', role: 'wizard' }]), 400, 'bad-request')
  assertError(await roster(adminToken, [{ id: 'u 1', name: 'Ana', role: 'student' }]), 400, 'bad-request')
  assertError(await roster(adminToken, { id: 'u1' }), 400, 'bad-request')
  assertError(await api(server, 'GET', '/api/v1/nothing-here', { token: adminToken }), 404, 'not-found')
})

test.run()
