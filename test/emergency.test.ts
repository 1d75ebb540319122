// Emergencies: 200 targeted roster users get an urgent inbox item, half acknowledge, the rest
// cause escalations on time (inbox items for admins and directors, a signed webhook), at most
// EMERGENCY_MAX_ESCALATIONS times; everyone acknowledging stops escalation; an admin's client
// writing the broadcast starts one too; deadlines survive a restart. Escalation deadlines follow
// a ManualClock the tests advance, so no test waits out real seconds.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { useServer } from './helpers/server.ts'
import { closeClients, connect, DEADLINE_MS, openSocket, until, within } from './helpers/clients.ts'
import { admin, mintToken, student } from './helpers/tokens.ts'
import { api, assertError } from './helpers/api.ts'
import { docJson, putRoster, webhookReceiver, type WebhookReceiver } from './helpers/safety.ts'
import { signature, Webhook } from '../server/webhook.ts'
import { Metrics } from '../server/metrics.ts'
import type { RosterMember } from '../server/store/types.ts'
import { chunks } from '../extensions/observers/runtime.ts'
import type { HocuspocusProviderWebsocket } from '@hocuspocus/provider'
import { ManualClock } from './helpers/clock.ts'

const SECRET = 'webhook-secret-for-tests'
const ESCALATE_S = 5
const students: RosterMember[] = Array.from({ length: 180 }, (_, i) => ({ id: `st${String(i).padStart(3, '0')}`, name: `Student ${i}`, role: 'student' }))
const teachers: RosterMember[] = Array.from({ length: 20 }, (_, i) => ({ id: `te${String(i).padStart(2, '0')}`, name: `Teacher ${i}`, role: 'teacher' }))
const staff: RosterMember[] = [
  { id: 'a1', name: 'Ada Admin', role: 'admin' },
  { id: 'dir1', name: 'Dana Director', role: 'director' },
  { id: 'pr1', name: 'Pim Proctor', role: 'proctor' },
  { id: 'pr2', name: 'Pia Proctor', role: 'proctor' },
]

let receiver: WebhookReceiver

const env = (url: string) => ({
  EMERGENCY_ESCALATE_AFTER_S: String(ESCALATE_S),
  EMERGENCY_MAX_ESCALATIONS: '2',
  ALERT_WEBHOOK_URL: url,
  ALERT_WEBHOOK_SECRET: SECRET,
})

test.before(async () => {
  receiver = await webhookReceiver({ failFirst: 1 })
})
/** The server's time, kept across `server.restart()` so that deadlines carry on. */
const clock = new ManualClock()
const server = useServer(() => env(receiver.url), { clock })
test.before(() => putRoster(server, 's1', [...students, ...teachers, ...staff]))
/** Acknowledging users each have their own socket, which clients do not close for us. */
const sockets: HocuspocusProviderWebsocket[] = []
test.after.each(() => {
  closeClients()
  for (const socket of sockets.splice(0)) socket.destroy()
})
test.after(() => receiver.close())

const roleToken = (sub: string, role: string) => mintToken({ sub, role: role as any, schools: ['s1'] })

/**
 * Advances the clock to `at` until `done` holds: the timer for `at` may be armed only after
 * asynchronous work (a restart's scan, the previous escalation's write), so advancing once is not enough.
 */
async function advanceUntil(at: number, done: () => Promise<boolean>, what: string): Promise<void> {
  await until(async () => {
    await clock.advanceTo(at)
    return done()
  }, { what })
}

test('the route accepts admins, directors and services of the school only, with a valid body', async () => {
  const body = { title: 'Drill', message: 'Fire drill', level: 'info', targetRoles: ['proctor'] }
  // A roster student: every verified token enters the directory, and one it adds would count as targeted below.
  assertError(await api(server, 'POST', '/api/v1/schools/s1/emergencies', { token: await mintToken(student('st000')), json: body }), 403)
  assertError(await api(server, 'POST', '/api/v1/schools/s2/emergencies', { token: await mintToken(admin()), json: body }), 403)
  assertError(await api(server, 'POST', '/api/v1/schools/s1/emergencies', { token: await mintToken(admin()), json: { ...body, level: 'panic' } }), 400)
  assertError(await api(server, 'POST', '/api/v1/schools/s1/emergencies', { token: await mintToken(admin()), json: { ...body, targetRoles: [] } }), 400)
  assertError(await api(server, 'POST', '/api/v1/schools/s1/emergencies', { json: body }), 401)
})

test('200 targeted users: inbox items, acknowledgements counted, the rest escalated on time with a signed webhook', async () => {
  // A connected student sees the urgent item live. (Connected before the start: see "Known issue"
  // in docs/surfaces-exam-emergency-bus.md.) How fast is a benchmark's question, not this test's:
  // a loaded CI machine must not fail it.
  const watcher = connect(server.url, 's1/inbox/st000', await roleToken('st000', 'student'))
  await within(watcher.synced, DEADLINE_MS, 'inbox sync')
  const created = await api(server, 'POST', '/api/v1/schools/s1/emergencies', {
    token: await mintToken({ sub: 'dir1', role: 'director', schools: ['s1', 's2'] }),
    json: { title: 'Lockdown', message: 'Stay in your classroom, lock the door.', level: 'warning', targetRoles: ['student', 'teacher'] },
  })
  assert.is(created.status, 201)
  const { id, document } = created.json
  assert.is(document, `s1/emergency/${id}`)

  await until(() => watcher.doc.getMap('items').has(`emergency:${id}`), { what: 'live inbox item' })
  assert.is((watcher.doc.getMap('items').get(`emergency:${id}`) as any).priority, 'urgent')

  await until(async () => (await docJson(server, document)).status.targeted === 200, { what: 'targeted count' })
  const startedAt = (await docJson(server, document)).status.startedAt as number
  // 100 acknowledge through their own clients; 100 never do.
  const ackers = [...students.slice(0, 90), ...teachers.slice(0, 10)]
  const missing = [...students.slice(90), ...teachers.slice(10)].map((m) => m.id).sort()
  for (const batch of chunks(ackers, 30)) {
    await Promise.all(
      batch.map(async (member) => {
        const socket = openSocket(server.url)
        sockets.push(socket)
        const client = connect(server.url, document, await roleToken(member.id, member.role), { socket })
        await within(client.synced, DEADLINE_MS, `sync of ${member.id}`)
        client.doc.getMap('acks').set(member.id, { at: Date.now() })
        await client.acknowledged()
        client.destroy()
        socket.destroy()
      }),
    )
  }
  await until(async () => (await docJson(server, document)).status.acked === 100, { what: '100 acknowledgements counted' })
  // However long 100 connections take on a loaded machine, the server's clock has not moved: they
  // are in before any escalation.
  assert.is(clock.now(), startedAt)
  assert.is((await docJson(server, document)).status.escalations, 0)

  for (const member of [...students, ...teachers]) {
    const items = (await docJson(server, `s1/inbox/${member.id}`)).items
    assert.ok(items[`emergency:${id}`], `inbox of ${member.id}`)
  }
  assert.equal((await docJson(server, 's1/inbox/pr1')).items, {}, 'untargeted roles get nothing')

  // Two escalations (the maximum), ESCALATE_S apart, then none. Not a millisecond early:
  await until(() => clock.waiting === 1, { what: 'escalation armed' })
  await clock.advanceTo(startedAt + ESCALATE_S * 1000 - 1)
  assert.is(clock.waiting, 1, 'the escalation is still pending')
  assert.is((await docJson(server, document)).status.escalations, 0, 'no escalation before its deadline')
  const escalations = async () => (await docJson(server, document)).status.escalations
  await advanceUntil(startedAt + ESCALATE_S * 1000, async () => (await escalations()) === 1, 'first escalation')
  const first = await docJson(server, document)
  assert.is(first.status.escalatedAt - startedAt, ESCALATE_S * 1000, 'first escalation on time')
  await advanceUntil(startedAt + 2 * ESCALATE_S * 1000, async () => (await escalations()) === 2, 'second escalation')
  const after = await docJson(server, document)
  assert.is(after.status.escalatedAt - startedAt, 2 * ESCALATE_S * 1000, 'second escalation on time')
  assert.is(after.broadcast.level, 'critical')
  assert.is(after.status.targeted, 200)

  for (const boss of ['a1', 'dir1']) {
    const item = (await docJson(server, `s1/inbox/${boss}`)).items[`emergency:${id}:escalation:2`]
    assert.ok(item, `escalation item for ${boss}`)
    assert.is(item.priority, 'urgent')
    assert.equal([...item.data.unacknowledged].sort(), missing)
    assert.match(item.body, /Student 90 \(st090\)/)
    assert.not.match(item.body, /\(st000\)/)
  }

  // The webhook: the first attempt got a 500 and was retried; both escalations delivered, signed.
  await until(() => receiver.deliveries.length === 2, { what: 'two webhook deliveries' })
  assert.is(receiver.attempts, 3)
  // In order of escalation: the clock moved on at once, so the second may arrive while the first
  // waits out its retry's (real) backoff.
  const deliveries = [...receiver.deliveries].sort((a, b) => a.body.escalation - b.body.escalation)
  for (const [i, delivery] of deliveries.entries()) {
    const timestamp = String(delivery.headers['x-homeroom-timestamp'])
    assert.is(delivery.headers['x-homeroom-signature'], signature(SECRET, timestamp, delivery.raw))
    assert.is(delivery.headers['x-homeroom-event'], 'emergency.escalated')
    assert.is(delivery.body.escalation, i + 1)
    assert.is(delivery.body.document, document)
  }
  assert.equal([...deliveries[1].body.unacknowledged].sort(), missing)
  const firstMissing = new Set(deliveries[0].body.unacknowledged)
  assert.ok(missing.every((u) => firstMissing.has(u)), 'the first escalation names at least everyone still missing')

  // No third escalation: no deadline is left armed, and time well past the next one changes nothing.
  await until(() => clock.waiting === 0, { what: 'no deadline armed' })
  await clock.advanceTo(startedAt + 10 * ESCALATE_S * 1000)
  assert.is((await docJson(server, document)).status.escalations, 2)
  assert.is(receiver.deliveries.length, 2)
})

test('an admin writing the broadcast starts one; everyone acknowledging stops escalation, also across a restart', async () => {
  const adminClient = connect(server.url, 's1/emergency/drill1', await mintToken(admin('a1')))
  await within(adminClient.synced, DEADLINE_MS, 'admin sync')
  adminClient.doc.transact(() => {
    const b = adminClient.doc.getMap('broadcast')
    b.set('title', `Drill ${'x'.repeat(244)}`)
    b.set('message', 'Proctors to the hall')
    b.set('level', 'info')
    b.set('targetRoles', ['proctor'])
    b.set('by', 'a1')
    b.set('at', Date.now())
  })
  await adminClient.acknowledged()
  await until(async () => (await docJson(server, 's1/inbox/pr2')).items['emergency:drill1'] !== undefined, { what: 'inbox item for pr2' })
  assert.is((await docJson(server, 's1/inbox/pr2')).items['emergency:drill1'].title.length, 200, 'a long title is cut to fit an inbox item')
  const pr1 = connect(server.url, 's1/emergency/drill1', await roleToken('pr1', 'proctor'))
  await within(pr1.synced, DEADLINE_MS, 'pr1 sync')
  pr1.doc.getMap('acks').set('pr1', { at: Date.now() })
  await pr1.acknowledged()
  closeClients()

  // Restart before the deadline: the escalation is armed again from the stored status and fires on time.
  const startedAt = (await docJson(server, 's1/emergency/drill1')).status.startedAt as number
  await server.restart()
  assert.ok(clock.now() < startedAt + ESCALATE_S * 1000, 'the restart happened before the deadline')
  await advanceUntil(startedAt + ESCALATE_S * 1000, async () => (await docJson(server, 's1/emergency/drill1')).status.escalations === 1, 'escalation after restart')
  const status = (await docJson(server, 's1/emergency/drill1')).status
  assert.is(status.escalatedAt - startedAt, ESCALATE_S * 1000, 'escalated on time')
  assert.equal((await docJson(server, 's1/inbox/a1')).items['emergency:drill1:escalation:1'].data.unacknowledged, ['pr2'])

  // The last one acknowledges: no further escalation.
  const pr2 = connect(server.url, 's1/emergency/drill1', await roleToken('pr2', 'proctor'))
  await within(pr2.synced, DEADLINE_MS, 'pr2 sync')
  pr2.doc.getMap('acks').set('pr2', { at: Date.now() })
  await pr2.acknowledged()
  await until(async () => (await docJson(server, 's1/emergency/drill1')).status.acked === 2, { what: 'all acknowledged' })
  // The count disarms the deadline; time well past it changes nothing.
  await until(() => clock.waiting === 0, { what: 'deadline disarmed' })
  await clock.advanceTo(startedAt + 10 * ESCALATE_S * 1000)
  assert.is((await docJson(server, 's1/emergency/drill1')).status.escalations, 1)
})

test('the webhook retries with backoff, gives up after its attempts, and never throws', async () => {
  const flaky = await webhookReceiver({ failFirst: 2 })
  const webhook = new Webhook({ url: flaky.url, secret: SECRET, log: server.app.log, metrics: new Metrics(), backoffMs: 20 })
  const started = Date.now()
  assert.is(await webhook.send('test.event', 'd1', { n: 1 }), true)
  assert.ok(Date.now() - started >= 60, 'waited 20 + 40 ms between attempts')
  assert.is(flaky.attempts, 3)
  assert.is(flaky.deliveries[0].headers['x-homeroom-delivery'], 'd1')
  assert.equal(flaky.deliveries[0].body, { event: 'test.event', delivery: 'd1', n: 1 })
  await flaky.close()
  // Nobody listens there any more: every attempt fails, and send resolves false.
  const gone = new Webhook({ url: flaky.url, log: server.app.log, metrics: new Metrics(), backoffMs: 5, attempts: 3, timeoutMs: 500 })
  assert.is(await gone.send('test.event', 'd2', {}), false)
})

test.run()
