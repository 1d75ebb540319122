// Rosters and notifications over HTTP: targets resolved through the roster, one item per
// recipient's inbox, delivered live or found on the next connect; read marks; who may send to
// whom; ids scoped to their sender (idempotent repeats, 409 for an id reused with another body,
// also after a restart); and the contract's error shape for bad input.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { startServer, tempDir, useServer, type TestServer } from './helpers/server.ts'
import { rmSync } from 'node:fs'
import { closeClients, open, until } from './helpers/clients.ts'
import { admin, claims, mintToken, student, teacher } from './helpers/tokens.ts'
import { api, assertError, type ApiResponse } from './helpers/api.ts'
import { startTestCluster } from './helpers/cluster.ts'
import { markItemRead, unreadCount } from '../docs-model/surfaces/inbox/surface.ts'

const SERVICE_TOKEN = 'service-token-0123456789abcdef'
const server = useServer({ SERVICE_TOKEN })
let adminToken: string
test.before(async () => {
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

const notify = (token: string, json: unknown) => api(server, 'POST', '/api/v1/notifications', { token, json })

test('an offline recipient finds the notification on the next connect; an online one receives it live', async () => {
  const online = await open(server, 's1/inbox/u2', student('u2'))
  const sent = await notify(SERVICE_TOKEN, {
    school: 's1',
    targets: { classes: ['7a'] },
    type: 'homework',
    title: 'Fractions',
    body: 'Exercises 1 to 5 by Monday',
    priority: 'high',
    actionUrl: '/homework/42',
  })
  assert.is(sent.status, 202)
  assert.is(sent.json.recipients, 4, 'u1, u2 and t1 of 7a, and p1, the parent of a child in 7a')
  const id = sent.json.id
  assert.match(id, /^notification:service:n-/, 'the inbox item id names the sender')
  await until(() => online.doc.getMap('items').has(id), { what: 'live delivery' })

  const later = await open(server, 's1/inbox/u1', student('u1'))
  const item = later.doc.getMap('items').get(id) as Record<string, unknown>
  assert.is(item.title, 'Fractions')
  assert.is(item.priority, 'high')
  assert.is(item.actionUrl, '/homework/42')
  assert.is(unreadCount(later.doc), 1)

  markItemRead(later.doc, id)
  await later.acknowledged()
  assert.is(unreadCount(later.doc), 0)
  const parent = await open(server, 's1/inbox/p1', claims.parent('p1', { children: ['u1'] }))
  assert.ok(parent.doc.getMap('items').has(id))
})

test('a recipient cannot write items into their own inbox', async () => {
  const inbox = await open(server, 's1/inbox/u3', student('u3'))
  inbox.doc.getMap('items').set('fake', { type: 'x', title: 'x', body: 'x', priority: 'urgent', at: 1 })
  assert.match(await inbox.closed, /^forbidden-write: items/)
})

/** The item under `id` in a user's inbox, read by that user. */
async function itemIn(user: string, id: string, on: TestServer = server): Promise<Record<string, unknown> | undefined> {
  const inbox = await open(on, `s1/inbox/${user}`, student(user))
  return inbox.doc.getMap('items').get(id) as Record<string, unknown> | undefined
}

test('the same id from a teacher and then an admin delivers both: ids belong to their sender', async () => {
  const teacherToken = await mintToken(teacher('t1', { classes: ['7a'] }))
  const drill = { id: 'fire-drill', school: 's1', type: 'drill', title: 'Fire drill at 10', body: 'Practice only', targets: { classes: ['7a'] } }
  const fromTeacher = await notify(teacherToken, drill)
  assert.is(fromTeacher.status, 202)
  assert.equal(fromTeacher.json, { id: 'notification:t1:fire-drill', recipients: 4 }, 'u1, u2, t1 and the parent p1')
  const urgent = { ...drill, title: 'Evacuate now', body: 'This is not a drill', priority: 'urgent', targets: { classes: ['7a'] } }
  const fromAdmin = await notify(adminToken, urgent)
  assert.is(fromAdmin.status, 202)
  assert.equal(fromAdmin.json, { id: 'notification:a1:fire-drill', recipients: 4 })
  for (const user of ['u1', 'u2']) {
    assert.is((await itemIn(user, 'notification:t1:fire-drill'))?.title, 'Fire drill at 10')
    const notice = await itemIn(user, 'notification:a1:fire-drill')
    assert.is(notice?.title, 'Evacuate now')
    assert.is(notice?.priority, 'urgent')
  }
})

test('the same id from the same sender with the same body is idempotent: the same answer, one item', async () => {
  const body = { id: 'trip-2026', school: 's1', targets: { users: ['u3', 'u1'] }, type: 'trip', title: 'Trip', body: 'Friday', data: { bus: 1, at: '08:00' } }
  const first = await notify(adminToken, body)
  assert.is(first.status, 202)
  assert.equal(first.json, { id: 'notification:a1:trip-2026', recipients: 2 })
  const delivered = await itemIn('u3', 'notification:a1:trip-2026')
  // Equal however the JSON is ordered; `normal` is the default priority.
  const reordered = { data: { at: '08:00', bus: 1 }, priority: 'normal', body: 'Friday', title: 'Trip', type: 'trip', targets: { users: ['u1', 'u3'] }, school: 's1', id: 'trip-2026' }
  for (const again of [body, reordered]) {
    const repeat = await notify(adminToken, again)
    assert.is(repeat.status, 202)
    assert.equal(repeat.json, first.json)
  }
  const inbox = await open(server, 's1/inbox/u3', student('u3'))
  const items = inbox.doc.getMap('items')
  assert.equal([...items.keys()].filter((k) => k.includes('trip-2026')), ['notification:a1:trip-2026'])
  assert.equal(items.get('notification:a1:trip-2026'), delivered, 'not delivered again')
})

test('the same id from the same sender with another body is 409 conflict, and stays so', async () => {
  const body = { id: 'concert', school: 's1', targets: { users: ['u2'] }, type: 'event', title: 'Concert', body: 'Thursday 18:00' }
  assert.is((await notify(adminToken, body)).status, 202)
  const others = [
    { ...body, body: 'Moved to Friday' },
    { ...body, priority: 'urgent' },
    { ...body, targets: { users: ['u3'] } },
    { ...body, targets: { users: ['u2', 'u3'] } }, // the same content to more people is another body too
  ]
  // Each twice: a repeat of a refused request is refused again.
  for (const other of [...others, ...others]) assertError(await notify(adminToken, other), 409, 'conflict')
  assert.is((await itemIn('u2', 'notification:a1:concert'))?.body, 'Thursday 18:00')
  assert.is(await itemIn('u3', 'notification:a1:concert'), undefined)
  // The original is still answered as the first time.
  assert.equal((await notify(adminToken, body)).json, { id: 'notification:a1:concert', recipients: 1 })
})

test('of two requests racing for one id with different bodies, exactly one is delivered and the other is 409', async () => {
  const base = { id: 'race', school: 's1', targets: { users: ['u1'] }, type: 'note', title: 'Race' }
  const answers = await Promise.all([notify(adminToken, { ...base, body: 'A' }), notify(adminToken, { ...base, body: 'B' })])
  assert.equal(answers.map((a) => a.status).sort(), [202, 409])
  const winner = answers[0].status === 202 ? 'A' : 'B'
  assertError(answers.find((a) => a.status === 409)!, 409, 'conflict')
  assert.is((await itemIn('u1', 'notification:a1:race'))?.body, winner)
})

test('a repeat reaches members added to the roster since, with the first delivery time; nobody gets it twice', async () => {
  const director = await mintToken(admin('a2', { schools: ['s2'] }))
  const roster = (members: string[]) =>
    api(server, 'PUT', '/api/v1/schools/s2/roster', { token: director, json: members.map((id) => ({ id, name: id, role: 'student', classes: ['9c'] })) })
  assert.is((await roster(['x1'])).status, 200)
  const body = { id: 'welcome', school: 's2', targets: { classes: ['9c'] }, type: 'note', title: 'Welcome', body: 'to 9c' }
  assert.equal((await notify(director, body)).json, { id: 'notification:a2:welcome', recipients: 1 })
  assert.is((await roster(['x1', 'x2'])).status, 200)
  assert.equal((await notify(director, body)).json, { id: 'notification:a2:welcome', recipients: 2 })
  const inboxOf = (user: string) => open(server, `s2/inbox/${user}`, student(user, { schools: ['s2'] }))
  const [x1, x2] = [(await inboxOf('x1')).doc.getMap('items'), (await inboxOf('x2')).doc.getMap('items')]
  assert.is(x1.size, 1)
  assert.is(x2.size, 1)
  assert.is((x2.get('notification:a2:welcome') as { at: number }).at, (x1.get('notification:a2:welcome') as { at: number }).at)
})

test('what an id was used for is remembered across a restart', async () => {
  const dataDir = tempDir()
  const body = { id: 'restart', school: 's1', targets: { users: ['u1'] }, type: 'note', title: 'Before', body: 'the restart' }
  try {
    let instance = await startServer({}, { dataDir })
    const first = await api(instance, 'POST', '/api/v1/notifications', { token: adminToken, json: body })
    assert.is(first.status, 202)
    await instance.stop()
    instance = await startServer({}, { dataDir })
    try {
      const repeat = await api(instance, 'POST', '/api/v1/notifications', { token: adminToken, json: body })
      assert.is(repeat.status, 202)
      assert.equal(repeat.json, first.json)
      assertError(await api(instance, 'POST', '/api/v1/notifications', { token: adminToken, json: { ...body, title: 'After' } }), 409, 'conflict')
      assert.is((await itemIn('u1', 'notification:a1:restart', instance))?.title, 'Before')
    } finally {
      closeClients()
      await instance.stop()
    }
  } finally {
    rmSync(dataDir, { recursive: true, force: true })
  }
})

test('across instances sharing PostgreSQL and Redis, a repeat is answered alike, a reused id is 409, and a race has one winner', async () => {
  const cluster = await startTestCluster('notifications', 2)
  if (!cluster) return // the helper printed why (and fails under CI)
  try {
    const [a, b] = cluster.instances
    const post = (on: { http: string }, json: unknown) => api({ http: on.http } as TestServer, 'POST', '/api/v1/notifications', { token: adminToken, json })
    const body = { id: 'assembly', school: 's1', targets: { users: ['u1'] }, type: 'event', title: 'Assembly', body: 'Hall, 9:00' }
    const first = await post(a, body)
    assert.is(first.status, 202)
    const repeat = await post(b, body)
    assert.is(repeat.status, 202, JSON.stringify(repeat.json))
    assert.equal(repeat.json, first.json)
    assertError(await post(b, { ...body, body: 'Gym, 9:00' }), 409, 'conflict')

    const race = { id: 'raced', school: 's1', targets: { users: ['u1'] }, type: 'note', title: 'Race' }
    const answers: ApiResponse[] = await Promise.all([post(a, { ...race, body: 'A' }), post(b, { ...race, body: 'B' })])
    assert.equal(answers.map((r) => r.status).sort(), [202, 409])
    const inbox = await open({ url: b.url } as TestServer, 's1/inbox/u1', student('u1'))
    const items = inbox.doc.getMap('items')
    assert.is((items.get('notification:a1:assembly') as { body: string }).body, 'Hall, 9:00')
    assert.is((items.get('notification:a1:raced') as { body: string }).body, answers[0].status === 202 ? 'A' : 'B')
  } finally {
    closeClients()
    await cluster.stop()
  }
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
