// Event types and templates: a school declares a type (default priority, target roles, title,
// body and action URL templates); events of that type carry only their data and land rendered in
// the right inboxes; what an event says itself wins; a placeholder the data cannot fill refuses
// the event with the field named (400 over HTTP), and delivers nothing.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { useServer } from './helpers/server.ts'
import { closeClients, open } from './helpers/clients.ts'
import { admin, claims, mintToken } from './helpers/tokens.ts'
import { api, assertError } from './helpers/api.ts'
import { putRoster } from './helpers/safety.ts'
import { render, TemplateError } from '../server/events/templates.ts'

const SERVICE_TOKEN = 'service-token-0123456789abcdef'
const server = useServer({ SERVICE_TOKEN })
test.before(() =>
  putRoster(server, 's1', [
    { id: 'u1', name: 'Ana', role: 'student', classes: ['7a'] },
    { id: 'p1', name: 'Pat', role: 'parent', children: ['u1'] },
    { id: 'p2', name: 'Sam', role: 'parent', children: [] },
  ]),
)
test.after.each(closeClients)

const fee = {
  priority: 'high',
  targetRoles: ['parent'],
  title: 'Fee: {{amount}} {{currency}}',
  body: 'For {{student.name}}, due {{due}}',
  actionUrl: '/fees/{{ref}}',
}
const item = async (user: string, key: string) => (await open(server, `s1/inbox/${user}`, claims.parent(user))).doc.getMap('items').get(key) as Record<string, unknown> | undefined
const post = (events: unknown[]) => api(server, 'POST', '/api/v1/events', { token: SERVICE_TOKEN, json: events })

test('templates fill placeholders, nested ones too, and refuse a missing value', () => {
  assert.is(render('{{a}} and {{ b.c }}', { a: 1, b: { c: 'x' } }), '1 and x')
  assert.is(render('/f/{{a}}', { a: 'a b/c' }, encodeURIComponent), '/f/a%20b%2Fc')
  assert.throws(() => render('{{missing}}', { a: 1 }), (e: unknown) => e instanceof TemplateError && /data\.missing/.test((e as Error).message))
})

test('a declared type is listed with the placeholders its events must carry', async () => {
  const put = await api(server, 'PUT', '/api/v1/schools/s1/event-types/fee.assigned', { token: await mintToken(admin()), json: fee })
  assert.is(put.status, 200)
  assert.equal(put.json.placeholders, ['amount', 'currency', 'student.name', 'due', 'ref'])
  const listed = await api(server, 'GET', '/api/v1/schools/s1/event-types', { token: SERVICE_TOKEN })
  assert.equal(listed.json.map((t: { type: string }) => t.type), ['fee.assigned'])
  assert.equal({ ...listed.json[0], updatedAt: 0 }, { type: 'fee.assigned', updatedAt: 0, placeholders: put.json.placeholders, ...fee })
})

test('an event of the type carries only its data; what it says itself wins', async () => {
  const data = { amount: 25, currency: 'EUR', due: '1 Oct', ref: 'trip 7', student: { name: 'Ana' } }
  const sent = await post([
    { id: 'f-1', school: 's1', type: 'fee.assigned', data },
    { id: 'f-2', school: 's1', type: 'fee.assigned', targets: { users: ['p1'] }, title: 'Own title', priority: 'low', data },
  ])
  assert.is(sent.status, 202)
  assert.equal(sent.json.events.map((e: { recipients: number }) => e.recipients), [2, 1], 'the type reaches every parent; the event its own target')
  const rendered = await item('p2', 'event:f-1')
  assert.equal({ ...rendered, at: 0 }, { type: 'fee.assigned', title: 'Fee: 25 EUR', body: 'For Ana, due 1 Oct', priority: 'high', actionUrl: '/fees/trip%207', data, at: 0 })
  const own = await item('p1', 'event:f-2')
  assert.is(own?.title, 'Own title')
  assert.is(own?.body, 'For Ana, due 1 Oct')
  assert.is(own?.priority, 'low')
  assert.is(await item('p2', 'event:f-2'), undefined)
})

test('a placeholder the data cannot fill refuses the event, naming it; nothing is delivered', async () => {
  const refused = await post([{ id: 'f-3', school: 's1', type: 'fee.assigned', data: { amount: 5, currency: 'EUR', ref: 'x', student: { name: 'Ana' } } }])
  assertError(refused, 400, 'bad-request')
  assert.match(refused.json.error.message, /body: data\.due is needed by the template and missing \(type fee\.assigned\)/)
  assert.is(await item('p1', 'event:f-3'), undefined)
  // The id was not used up: the corrected event goes through.
  const fixed = await post([{ id: 'f-3', school: 's1', type: 'fee.assigned', data: { amount: 5, currency: 'EUR', ref: 'x', due: 'today', student: { name: 'Ana' } } }])
  assert.is(fixed.status, 202)
  const untyped = await post([{ id: 'f-4', school: 's1', type: 'undeclared', title: 'T' }])
  assertError(untyped, 400)
  assert.match(untyped.json.error.message, /targets: required, as type undeclared of school s1 declares no targetRoles/)
})

test('who may declare types, and bad declarations', async () => {
  const path = '/api/v1/schools/s1/event-types/x'
  assertError(await api(server, 'PUT', path, { json: fee }), 401)
  assertError(await api(server, 'PUT', path, { token: await mintToken(claims.teacher('t1')), json: fee }), 403)
  assertError(await api(server, 'PUT', '/api/v1/schools/s2/event-types/x', { token: await mintToken(admin()), json: fee }), 403)
  assertError(await api(server, 'PUT', path, { token: SERVICE_TOKEN, json: { ...fee, colour: 'red' } }), 400)
  assertError(await api(server, 'PUT', path, { token: SERVICE_TOKEN, json: { ...fee, targetRoles: ['janitor'] } }), 400)
  assertError(await api(server, 'PUT', '/api/v1/schools/s1/event-types/bad%20name', { token: SERVICE_TOKEN, json: fee }), 400)
})

test.run()
