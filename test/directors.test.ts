// Directors across schools: the current school is kept per user and switching it publishes
// school.context_switched (to the signed events webhook here); one request notifies and
// broadcasts an emergency to several of a director's schools, each through its school's own route.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { useServer } from './helpers/server.ts'
import { closeClients, open, until } from './helpers/clients.ts'
import { claims, mintToken, student } from './helpers/tokens.ts'
import { api, assertError } from './helpers/api.ts'
import { putRoster, webhookReceiver, type WebhookReceiver } from './helpers/safety.ts'

const SERVICE_TOKEN = 'service-token-0123456789abcdef'
let receiver: WebhookReceiver
test.before(async () => {
  receiver = await webhookReceiver()
})
const server = useServer(() => ({ SERVICE_TOKEN, EVENTS_WEBHOOK_URL: receiver.url }))
test.before(async () => {
  await putRoster(server, 's1', [{ id: 'u1', name: 'Ana', role: 'student' }])
  await putRoster(server, 's2', [{ id: 'u2', name: 'Ben', role: 'student' }])
})
test.after.each(closeClients)
test.after(() => receiver.close())

let director: string
test.before(async () => {
  director = await mintToken(claims.director('d1', { schools: ['s1', 's2'] }))
})
const emergencies = async () => (await server.app.store.listDocuments({ surface: 'emergency' })).length
const switches = () => receiver.deliveries.filter((d) => d.body.event === 'school.context_switched').map((d) => d.body.data)

test('switching the current school publishes school.context_switched, once per change', async () => {
  assert.equal((await api(server, 'GET', '/api/v1/me/school', { token: director })).json, { school: null, schools: ['s1', 's2'] })
  const first = await api(server, 'PUT', '/api/v1/me/school', { token: director, json: { school: 's2' } })
  assert.equal(first.json, { school: 's2', previous: null })
  assert.is((await api(server, 'PUT', '/api/v1/me/school', { token: director, json: { school: 's1' } })).json.previous, 's2')
  assert.is((await api(server, 'PUT', '/api/v1/me/school', { token: director, json: { school: 's1' } })).json.previous, 's1')
  await until(() => switches().length >= 2, { what: 'two switches out' })
  assert.equal(switches(), [
    { user: 'd1', role: 'director', from: null, to: 's2' },
    { user: 'd1', role: 'director', from: 's2', to: 's1' },
  ])
  assert.is((await api(server, 'GET', '/api/v1/me/school', { token: director })).json.school, 's1')
  assertError(await api(server, 'PUT', '/api/v1/me/school', { token: director, json: { school: 's3' } }), 403)
  assertError(await api(server, 'PUT', '/api/v1/me/school', { token: SERVICE_TOKEN, json: { school: 's1' } }), 403)
  assert.is((await api(server, 'GET', '/api/v1/me/school', { token: await mintToken(student('u1')) })).json.school, 's1', 'a user of one school is in it')
})

test('one request notifies and broadcasts an emergency to several schools', async () => {
  const sent = await api(server, 'POST', '/api/v1/broadcasts', {
    token: director,
    json: {
      schools: ['s1', 's2'],
      notification: { id: 'snow', targets: { roles: ['student'] }, type: 'closure', title: 'Snow day', body: 'No school tomorrow', priority: 'urgent' },
      emergency: { title: 'Storm', message: 'Stay inside', level: 'warning', targetRoles: ['student'] },
    },
  })
  assert.is(sent.status, 200)
  assert.ok(sent.json.ok)
  assert.equal(sent.json.results.map((r: { school: string; kind: string; status: number }) => `${r.school} ${r.kind} ${r.status}`), ['s1 notification 202', 's1 emergency 201', 's2 notification 202', 's2 emergency 201'])
  for (const [school, userId] of [['s1', 'u1'], ['s2', 'u2']]) {
    const inbox = await open(server, `${school}/inbox/${userId}`, student(userId, { schools: [school] }))
    assert.is((inbox.doc.getMap('items').get('notification:d1:snow') as { title: string } | undefined)?.title, 'Snow day', `${school}: the notification`)
    await until(() => [...inbox.doc.getMap('items').keys()].some((k) => k.startsWith('emergency:')), { what: `${school}: the emergency` })
  }
  // The same request again: each school's route answers its repeat (nothing delivered twice).
  const again = await api(server, 'POST', '/api/v1/broadcasts', { token: director, json: { schools: ['s1'], notification: { id: 'snow', targets: { roles: ['student'] }, type: 'closure', title: 'Snow day', body: 'No school tomorrow', priority: 'urgent' } } })
  assert.equal(again.json.results.map((r: { status: number }) => r.status), [202])
})

test('POST /api/v1/notifications with schools: one notification to each of a director’s schools', async () => {
  const note = { id: 'trip', targets: { roles: ['student'] }, type: 'trip', title: 'Museum trip', body: 'Friday' }
  const sent = await api(server, 'POST', '/api/v1/notifications', { token: director, json: { ...note, schools: ['s1', 's2'] } })
  assert.is(sent.status, 202)
  assert.equal(sent.json, { id: 'notification:d1:trip', recipients: 2, schools: [{ school: 's1', recipients: 1 }, { school: 's2', recipients: 1 }] })
  for (const [school, userId] of [['s1', 'u1'], ['s2', 'u2']]) {
    const inbox = await open(server, `${school}/inbox/${userId}`, student(userId, { schools: [school] }))
    assert.is((inbox.doc.getMap('items').get('notification:d1:trip') as { title: string } | undefined)?.title, 'Museum trip', school)
  }
  assert.is((await api(server, 'POST', '/api/v1/notifications', { token: director, json: { ...note, schools: ['s1', 's2'] } })).status, 202, 'a repeat delivers nothing new')
  assertError(await api(server, 'POST', '/api/v1/notifications', { token: director, json: { ...note, school: 's1', schools: ['s2'] } }), 400)
})

test('all or nothing: every school not the caller’s is named, and nothing is delivered anywhere', async () => {
  const before = await emergencies()
  const note = { id: 'half', targets: { roles: ['student'] }, type: 'x', title: 'Half', body: '' }
  const refused = await api(server, 'POST', '/api/v1/notifications', { token: director, json: { ...note, schools: ['s1', 's9', 's8'] } })
  assertError(refused, 403, 'forbidden')
  assert.is(refused.json.error.message, 'd1 is not a member of school s9; d1 is not a member of school s8')
  const inbox = await open(server, 's1/inbox/u1', student('u1'))
  assert.is(inbox.doc.getMap('items').get('notification:d1:half'), undefined, 's1 was not delivered to')

  const broadcast = await api(server, 'POST', '/api/v1/broadcasts', { token: director, json: { schools: ['s1', 's9'], notification: note, emergency: { title: 'Storm', message: 'x', level: 'purple', targetRoles: ['student'] } } })
  assertError(broadcast, 403, 'forbidden')
  assert.match(broadcast.json.error.message, /^d1 is not a member of school s9; emergency\.level: /)
  const bad = await api(server, 'POST', '/api/v1/broadcasts', { token: director, json: { schools: ['s1', 's2'], notification: { targets: {}, type: 'x', body: '' }, emergency: { title: 'Storm', message: 'x', level: 'warning', targetRoles: ['student'] } } })
  assertError(bad, 400, 'bad-request')
  assert.match(bad.json.error.message, /notification\.targets: name at least one user, role or class; notification\.title: /)
  assert.is(await emergencies(), before, 'no emergency was started in any school')
})

test('refusals: roles that may not broadcast, a request without parts, a repeat refused by its route', async () => {
  assertError(await api(server, 'POST', '/api/v1/broadcasts', { token: director, json: { schools: ['s1'] } }), 400)
  assertError(await api(server, 'POST', '/api/v1/broadcasts', { token: await mintToken(claims.teacher('t1')), json: { schools: ['s1'], emergency: {} } }), 403)
  const reused = await api(server, 'POST', '/api/v1/broadcasts', { token: director, json: { schools: ['s1'], notification: { id: 'snow', targets: { roles: ['student'] }, type: 'closure', title: 'Other', body: '' } } })
  assert.is(reused.status, 200)
  assert.is(reused.json.ok, false)
  assert.equal(reused.json.results.map((r: { status: number }) => r.status), [409])
})

test.run()
