// Targeting never silently reaches nobody, and means what a school means. Recipients come from the
// roster and, for users it does not list, from the directory of users the server has seen (every
// verified token, per school, in the store). Roles and classes filter together; every combination
// is checked through HTTP, and a seeded differential test holds the rule to a per-user reading of it.
// An emergency that reaches nobody answers `warning: "no-recipients"` and escalates at once.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { useServer } from './helpers/server.ts'
import { closeClients, open, until } from './helpers/clients.ts'
import { claims, mintToken } from './helpers/tokens.ts'
import { api, assertError } from './helpers/api.ts'
import { docJson, putRoster, webhookReceiver, type WebhookReceiver } from './helpers/safety.ts'
import { Rng } from './helpers/random.ts'
import { freshDatabase } from './helpers/services.ts'
import { targetedIds, type Member, type Targets } from '../docs-model/surfaces/inbox/state.ts'
import { Directory } from '../server/directory.ts'
import { PgStore } from '../server/store/postgres.ts'
import { createLogger } from '../server/log.ts'
import { normalise } from '../server/identity.ts'

const SERVICE_TOKEN = 'service-token-0123456789abcdef'
let receiver: WebhookReceiver
test.before(async () => {
  receiver = await webhookReceiver()
})
const server = useServer(() => ({ SERVICE_TOKEN, ALERT_WEBHOOK_URL: receiver.url }))
test.after.each(closeClients)
test.after(() => receiver.close())

const roster = [
  { id: 'u1', name: 'Ana', role: 'student', classes: ['7a'] },
  { id: 'u2', name: 'Ben', role: 'student', classes: ['7a'] },
  { id: 'u3', name: 'Cat', role: 'student', classes: ['7b'] },
  { id: 'p1', name: "Ana's mother", role: 'parent', children: ['u1'] },
  { id: 'p3', name: "Cat's father", role: 'parent', children: ['u3'] },
  { id: 't1', name: 'Ms T', role: 'teacher', classes: ['7a'] },
  { id: 't2', name: 'Mr U', role: 'teacher', classes: ['7b'] },
  { id: 'a1', name: 'Ada', role: 'admin' },
]
test.before(() => putRoster(server, 's1', roster))

const notify = (targets: Targets, school = 's1') =>
  api(server, 'POST', '/api/v1/notifications', { token: SERVICE_TOKEN, json: { school, targets, type: 'note', title: 'Hello', body: 'x' } })

/** Whose inboxes hold an item: every roster member's inbox, read as the server holds it. */
async function holders(id: string, school = 's1', users = roster.map((m) => m.id)): Promise<string[]> {
  const found: string[] = []
  for (const user of users) if ((await docJson(server, `${school}/inbox/${user}`)).items[id]) found.push(user)
  return found.sort()
}

const combinations: Array<[string, Targets, string[]]> = [
  ['users alone: as listed, also one no list names', { users: ['u3', 'x9'] }, ['u3', 'x9']],
  ['roles alone: that role in the whole school', { roles: ['student'] }, ['u1', 'u2', 'u3']],
  ['classes alone: everyone in the class, parents through their children', { classes: ['7a'] }, ['p1', 't1', 'u1', 'u2']],
  ['students of 7a', { roles: ['student'], classes: ['7a'] }, ['u1', 'u2']],
  ['parents of children in 7a', { roles: ['parent'], classes: ['7a'] }, ['p1']],
  ['teachers of 7a', { roles: ['teacher'], classes: ['7a'] }, ['t1']],
  ['students and parents of 7b', { roles: ['student', 'parent'], classes: ['7b'] }, ['p3', 'u3']],
  ['users added to roles', { users: ['a1'], roles: ['teacher'] }, ['a1', 't1', 't2']],
  ['users added to classes', { users: ['a1'], classes: ['7b'] }, ['a1', 'p3', 't2', 'u3']],
  ['users added to roles of classes', { users: ['u3'], roles: ['parent'], classes: ['7a'] }, ['p1', 'u3']],
  ['a role nobody of the class holds', { roles: ['admin'], classes: ['7a'] }, []],
]

for (const [what, targets, expected] of combinations) {
  test(`targets: ${what}`, async () => {
    const sent = await notify(targets)
    assert.is(sent.status, 202)
    assert.is(sent.json.recipients, expected.length)
    if (expected.length === 0) assert.is(sent.json.warning, 'no-recipients')
    else assert.not.ok('warning' in sent.json)
    const listed = roster.map((m) => m.id).concat(targets.users ?? [])
    assert.equal(await holders(sent.json.id, 's1', [...new Set(listed)]), expected)
  })
}

test('a notification to a school without a roster reaches the users the server has seen, and says when it reaches nobody', async () => {
  const none = await notify({ roles: ['student'] }, 's2')
  assert.is(none.status, 202)
  assert.equal({ recipients: none.json.recipients, warning: none.json.warning }, { recipients: 0, warning: 'no-recipients' })

  // Two students and a parent authenticate once (a socket, an HTTP call); nobody uploads a roster.
  await open(server, 's2/inbox/k1', claims.student('k1', { schools: ['s2'], classes: ['8c'] }))
  const k2 = await mintToken(claims.student('k2', { schools: ['s2'], classes: ['8d'] }))
  assert.is((await api(server, 'GET', '/api/v1/openapi.json', { token: k2 })).status, 200)
  await open(server, 's2/inbox/q1', claims.parent('q1', { schools: ['s2'], children: ['k1'] }))

  const students = await notify({ roles: ['student'] }, 's2')
  assert.equal({ recipients: students.json.recipients, warning: students.json.warning }, { recipients: 2, warning: undefined })
  assert.equal(await holders(students.json.id, 's2', ['k1', 'k2', 'q1']), ['k1', 'k2'])
  const parents = await notify({ roles: ['parent'], classes: ['8c'] }, 's2')
  assert.equal(await holders(parents.json.id, 's2', ['k1', 'k2', 'q1']), ['q1'], 'the parent of the child the directory places in 8c')
})

test('the roster wins over the directory for the users it lists', async () => {
  // u3 signs in with a token that claims 7a; the school's roster says 7b.
  await open(server, 's1/inbox/u3', claims.student('u3', { classes: ['7a'] }))
  const sent = await notify({ roles: ['student'], classes: ['7a'] })
  assert.equal(await holders(sent.json.id), ['u1', 'u2'])
})

test('an emergency that reaches nobody answers no-recipients and escalates at once to admins and directors, with the webhook', async () => {
  const adminToken = await mintToken(claims.admin('a3', { schools: ['s3'] }))
  // The director is known only through the directory: s3 has no roster.
  await open(server, 's3/inbox/dir3', claims.director('dir3', { schools: ['s3'] }))
  const created = await api(server, 'POST', '/api/v1/schools/s3/emergencies', {
    token: adminToken,
    json: { title: 'Lockdown', message: 'Stay inside', level: 'critical', targetRoles: ['student', 'teacher'] },
  })
  assert.is(created.status, 201)
  assert.equal({ targeted: created.json.targeted, warning: created.json.warning }, { targeted: 0, warning: 'no-recipients' })
  const inboxOf = (user: string) => docJson(server, `s3/inbox/${user}`)
  await until(async () => Object.keys((await inboxOf('a3')).items).length > 0, { what: 'the escalation in the admin who sent it' })
  for (const leader of ['a3', 'dir3']) {
    const [item] = Object.values((await inboxOf(leader)).items) as any[]
    assert.is(item.type, 'emergency-no-recipients')
    assert.is(item.priority, 'urgent')
    assert.is(item.data.emergency, created.json.document)
  }
  await until(() => receiver.deliveries.some((d) => d.body.event === 'emergency.no-recipients'), { what: 'the webhook' })
  const hook = receiver.deliveries.find((d) => d.body.event === 'emergency.no-recipients')!.body
  assert.equal({ document: hook.document, targeted: hook.targeted, targetRoles: hook.targetRoles }, { document: created.json.document, targeted: 0, targetRoles: ['student', 'teacher'] })
})

test('an emergency that reaches someone says how many, without a warning', async () => {
  const created = await api(server, 'POST', '/api/v1/schools/s1/emergencies', {
    token: SERVICE_TOKEN,
    json: { title: 'Fire drill', message: 'Line up', level: 'info', targetRoles: ['student'] },
  })
  assert.is(created.status, 201)
  assert.equal({ targeted: created.json.targeted, warning: created.json.warning }, { targeted: 3, warning: undefined })
  await until(async () => (await docJson(server, created.json.document)).status.targeted === 3, { what: 'the observer counting the same' })
})

test('teachers address roles only within their own classes', async () => {
  const token = await mintToken(claims.teacher('t1', { classes: ['7a'] }))
  const send = (targets: Targets) => api(server, 'POST', '/api/v1/notifications', { token, json: { school: 's1', targets, type: 'note', title: 'Hi', body: '' } })
  const parents = await send({ roles: ['parent'], classes: ['7a'] })
  assert.is(parents.status, 202)
  assert.is(parents.json.recipients, 1)
  assertError(await send({ roles: ['parent'] }), 403, 'forbidden')
  assertError(await send({ roles: ['parent'], classes: ['7b'] }), 403, 'forbidden')
})

test('the directory is shared between instances through PostgreSQL', async () => {
  const database = await freshDatabase('directory')
  if (!database) return
  const [one, two] = [new PgStore(database.url), new PgStore(database.url)]
  try {
    const log = createLogger('silent')
    await new Directory(one, log).record(normalise({ sub: 'k7', role: 'teacher', schools: ['s9'], classes: ['9a'] }), 1)
    assert.equal(await new Directory(two, log).members('s9'), [{ id: 'k7', name: 'k7', role: 'teacher', classes: ['9a'], children: [], buses: [] }])
  } finally {
    await Promise.all([one.close(), two.close()])
    await database.drop()
  }
})

/** The rule read user by user, written apart from `targetedIds`: is this member reached? */
function reaches(member: Member, members: readonly Member[], t: Targets): boolean {
  if (t.users?.includes(member.id)) return true
  const roles = t.roles ?? []
  const classes = t.classes ?? []
  if (roles.length === 0 && classes.length === 0) return false
  const roleOk = roles.length === 0 || roles.includes(member.role)
  const own = member.classes ?? []
  const viaChild =
    member.role === 'parent' &&
    members.some((child) => child.role === 'student' && (member.children ?? []).includes(child.id) && (child.classes ?? []).some((c) => classes.includes(c)))
  const classOk = classes.length === 0 || own.some((c) => classes.includes(c)) || viaChild
  return roleOk && classOk
}

test('differential: targetedIds agrees with the per-user reading of the rule (seeded)', () => {
  const seed = process.env.TARGETING_SEED ?? `targeting-${Date.now()}`
  console.log(`targeting seed: ${seed} (TARGETING_SEED=${seed} replays it)`)
  const rng = new Rng(seed)
  const roles = ['student', 'teacher', 'parent', 'admin', 'proctor']
  const classes = ['7a', '7b', '8a', '8b']
  for (let round = 0; round < 300; round++) {
    const members: Member[] = Array.from({ length: rng.range(0, 12) }, (_, i) => ({ id: `m${i}`, role: rng.pick(roles), classes: classes.filter(() => rng.chance(0.3)) }))
    for (const m of members) if (m.role === 'parent') m.children = members.filter(() => rng.chance(0.2)).map((c) => c.id)
    const some = <T>(list: readonly T[]): T[] | undefined => (rng.chance(0.4) ? undefined : list.filter(() => rng.chance(0.35)))
    const targets: Targets = { users: some([...members.map((m) => m.id), 'outsider']), roles: some(roles), classes: some(classes) }
    const expected = [...new Set([...members.filter((m) => reaches(m, members, targets)).map((m) => m.id), ...(targets.users ?? [])])].sort()
    assert.equal(targetedIds(members, targets), expected, `round ${round} of seed ${seed}: ${JSON.stringify({ members, targets })}`)
  }
})

test.run()
