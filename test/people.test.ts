// Names instead of ids: GET /api/v1/schools/<s>/people answers the names the server knows (the
// roster first, then users it has seen in verified tokens), only id, name and role, only to members
// of that school, and whole roles only to admins, directors and services. A seeded differential
// test holds random requests to a plain reading of that rule.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { useServer } from './helpers/server.ts'
import { claims, mintToken } from './helpers/tokens.ts'
import { api, assertError } from './helpers/api.ts'
import { putRoster } from './helpers/safety.ts'
import { Rng, testSeed } from './helpers/random.ts'
import { ROLES } from '../docs-model/types.ts'

const server = useServer()

const roster = [
  { id: 'u1', name: 'Ada', role: 'student', classes: ['7a'] },
  { id: 'u2', name: 'Ben', role: 'student', classes: ['7a'] },
  { id: 't1', name: 'Ms. Rivera', role: 'teacher', classes: ['7a'] },
  { id: 'p1', name: 'Ada’s dad', role: 'parent', children: ['u1'] },
  { id: 'a1', name: 'Principal Lee', role: 'admin' },
]
test.before(() => putRoster(server, 's1', roster))

const people = async (claimsOf: Parameters<typeof mintToken>[0], query: string) =>
  api(server, 'GET', `/api/v1/schools/s1/people?${query}`, { token: await mintToken(claimsOf) })

test('a member asks for ids and gets their names and roles (by id), nothing more; unknown ids are left out', async () => {
  const response = await people(claims.student('u2'), 'ids=u1,t1,nobody')
  assert.is(response.status, 200)
  assert.equal(response.json, {
    school: 's1',
    people: [
      { id: 't1', name: 'Ms. Rivera', role: 'teacher' },
      { id: 'u1', name: 'Ada', role: 'student' },
    ],
  })
})

test('a user the roster does not list is named from their verified token', async () => {
  // An HTTP request with a verified token records its user in the directory.
  await api(server, 'GET', '/api/v1/me/inbox', { token: await mintToken(claims.student('u9', { name: 'Zoe' })) })
  const response = await people(claims.teacher('t1'), 'ids=u9')
  assert.equal(response.json.people, [{ id: 'u9', name: 'Zoe', role: 'student' }])
})

test('refusals: no token, another school, no question, a bad id, too many ids', async () => {
  assertError(await api(server, 'GET', '/api/v1/schools/s1/people?ids=u1'), 401)
  assertError(await people(claims.teacher('t1', { schools: ['s2'] }), 'ids=u1'), 403, 'forbidden')
  assertError(await people(claims.teacher('t1'), ''), 400, 'bad-request')
  assertError(await people(claims.teacher('t1'), 'ids=../x'), 400, 'bad-request')
  assertError(await people(claims.teacher('t1'), `ids=${Array.from({ length: 201 }, (_, i) => `u${i}`).join(',')}`), 400, 'bad-request')
  assertError(await people(claims.teacher('t1'), 'roles=wizard'), 400, 'bad-request')
})

test('differential: random callers and questions answer as the rule reads (seeded)', async () => {
  const rng = new Rng(testSeed('PEOPLE_SEED', 'people-1'))
  const ids = [...roster.map((m) => m.id), 'nobody']
  const byRole = Object.values(claims)
  for (let i = 0; i < 40; i++) {
    const caller = rng.pick(byRole)('x1', rng.chance(0.5) ? {} : { schools: ['s2'] })
    const askIds = rng.chance(0.5) ? ids.filter(() => rng.chance(0.5)) : undefined
    const askRoles = !askIds || rng.chance(0.5) ? ROLES.filter(() => rng.chance(0.5)) : undefined
    const query = new URLSearchParams()
    if (askIds) query.set('ids', askIds.join(','))
    if (askRoles) query.set('roles', askRoles.join(','))
    const response = await people(caller, query.toString())
    const what = `caller ${caller.role}/${caller.schools} ?${query}`
    const namesIds = (askIds?.length ?? 0) > 0
    const namesRoles = (askRoles?.length ?? 0) > 0
    if (!caller.schools.includes('s1')) assert.is(response.status, 403, what)
    else if (!namesIds && !namesRoles) assert.is(response.status, 400, what)
    else if (namesRoles && !['admin', 'director', 'service'].includes(caller.role)) assert.is(response.status, 403, what)
    else {
      assert.is(response.status, 200, what)
      const expected = roster
        .filter((m) => (!namesIds || askIds!.includes(m.id)) && (!namesRoles || (askRoles as string[]).includes(m.role)))
        .map((m) => m.id)
      assert.equal(response.json.people.map((p: { id: string }) => p.id).filter((id: string) => id !== 'u9').sort(), expected.sort(), what)
    }
  }
})

test.run()
