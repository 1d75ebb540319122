// "All clear": an admin (or the broadcast's sender) ends an emergency by writing `cleared`
// {by, at} once; nobody else may, nobody may forge `by`, and a cleared emergency escalates no
// more, also across a restart. Deadlines follow a ManualClock the test advances.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import WebSocket from 'ws'
import { EmergencyClient, Session } from '../docs-model/client/index.ts'
import { clearedOf } from '../docs-model/surfaces/emergency/state.ts'
import type { Claims } from '../server/identity.ts'
import type { RosterMember } from '../server/store/types.ts'
import { api } from './helpers/api.ts'
import { closeClients, connect, DEADLINE_MS, until, within } from './helpers/clients.ts'
import { ManualClock } from './helpers/clock.ts'
import { docJson, putRoster } from './helpers/safety.ts'
import { useServer } from './helpers/server.ts'
import { admin, claims, mintToken, student, teacher } from './helpers/tokens.ts'

const ESCALATE_S = 5
const members: RosterMember[] = [
  { id: 'a1', name: 'Ada Admin', role: 'admin' },
  { id: 'a2', name: 'Alan Admin', role: 'admin' },
  { id: 'dir1', name: 'Dana Director', role: 'director' },
  { id: 'dir2', name: 'Dev Director', role: 'director' },
  { id: 't1', name: 'Tess Teacher', role: 'teacher' },
  { id: 'u1', name: 'Uma', role: 'student' },
  { id: 'u2', name: 'Udo', role: 'student' },
]
const clock = new ManualClock()
const server = useServer({ EMERGENCY_ESCALATE_AFTER_S: String(ESCALATE_S), EMERGENCY_MAX_ESCALATIONS: '3' }, { clock })
test.before(() => putRoster(server, 's1', members))
const sessions: Session[] = []
test.after.each(() => {
  closeClients()
  for (const s of sessions.splice(0)) s.destroy()
})

async function session(who: Claims): Promise<Session> {
  // The guard holds `cleared/at` to the server's clock: the client reads it from the server's clock messages.
  const s = new Session({ url: server.url, token: await mintToken(who), WebSocketPolyfill: WebSocket, offline: false })
  sessions.push(s)
  return s
}

async function start(sender: Claims): Promise<string> {
  const created = await api(server, 'POST', '/api/v1/schools/s1/emergencies', {
    token: await mintToken(sender),
    json: { title: 'Fire drill', message: 'Gather in the yard', level: 'info', targetRoles: ['student', 'teacher'] },
  })
  assert.is(created.status, 201)
  const document = created.json.document as string
  await until(async () => (await docJson(server, document)).status?.targeted === 3, { what: 'targeted count' })
  return document
}

/** A raw write of `cleared` (no client-side check): the server's refusal reason. */
async function refusedClear(name: string, who: Claims, cleared: Record<string, unknown>): Promise<string> {
  const client = connect(server.url, name, await mintToken(who))
  await within(client.synced, DEADLINE_MS, `sync of ${name}`)
  client.doc.transact(() => {
    for (const [key, value] of Object.entries(cleared)) client.doc.getMap('cleared').set(key, value)
  })
  const reason = await within(client.closed, DEADLINE_MS, `refusal on ${name}`)
  client.destroy()
  return reason
}

test('only admins and the sender may clear, once, as themselves; the client helper agrees with the server', async () => {
  const document = await start(claims.director('dir1'))
  const at = () => clock.now()
  // Targeted users and another director are not the sender nor admins.
  assert.is(await refusedClear(document, student('u1'), { by: 'u1', at: at() }), 'forbidden-write: cleared/by')
  assert.is(await refusedClear(document, teacher('t1'), { by: 't1', at: at() }), 'forbidden-write: cleared/by')
  assert.is(await refusedClear(document, claims.director('dir2'), { by: 'dir2', at: at() }), 'forbidden-write: cleared/by')
  // An admin may not clear in someone else's name, nor add other keys.
  assert.is(await refusedClear(document, admin('a1'), { by: 'dir1', at: at() }), 'forbidden-write: cleared/by (cleared.by must be the clearing user)')
  assert.is(await refusedClear(document, admin('a1'), { by: 'a1', at: at(), note: 'x' }), 'forbidden-write: cleared/note (cleared has only by and at, not note)')
  assert.is(clearedOf(await server.app.peek(document)), undefined, 'nothing of the refused clears is stored')

  const teacherView = new EmergencyClient(await session(teacher('t1')), document)
  await within(teacherView.handle.ready, DEADLINE_MS, 'teacher open')
  assert.is(teacherView.mayClear(), false)
  assert.throws(() => teacherView.clear(), /not allowed/)

  // The sender (a director) clears through the client.
  const sender = new EmergencyClient(await session(claims.director('dir1')), document)
  await within(sender.handle.ready, DEADLINE_MS, 'sender open')
  assert.is(sender.mayClear(), true)
  sender.clear()
  await until(() => !sender.handle.pending, { what: 'clear acknowledged' })
  const stored = clearedOf(await server.app.peek(document))
  assert.is(stored?.by, 'dir1')
  assert.equal((await docJson(server, document)).cleared, stored)
  assert.is(sender.cleared()?.by, 'dir1')
  // Once: a second clear is frozen, for the client helper and for the server.
  assert.is(sender.mayClear(), false)
  await until(() => teacherView.cleared() !== undefined, { what: 'the teacher sees the all clear' })
  assert.is(await refusedClear(document, admin('a1'), { by: 'a1', at: at() }), 'frozen: already cleared')
  assert.is(clearedOf(await server.app.peek(document))?.by, 'dir1')
})

test('nothing to clear before a broadcast', async () => {
  assert.is(await refusedClear('s1/emergency/empty', admin('a1'), { by: 'a1', at: clock.now() }), 'frozen: nothing to clear yet')
})

test('a cleared emergency escalates no more, also across a restart; an uncleared one still does', async () => {
  // The first test's emergency, cleared, is disarmed: nothing runs on the server's clock.
  await until(() => clock.waiting === 0, { what: 'no deadline armed' })
  const cleared = await start(admin('a2'))
  const running = await start(admin('a2'))
  const startedAt = (await docJson(server, cleared)).status.startedAt as number
  await until(() => clock.waiting === 2, { what: 'both escalations armed' })

  const adminView = new EmergencyClient(await session(admin('a1')), cleared)
  await within(adminView.handle.ready, DEADLINE_MS, 'admin open')
  adminView.clear()
  await until(() => !adminView.handle.pending, { what: 'clear acknowledged' })
  // The observer disarms the cleared one's deadline; the other stays armed.
  await until(() => clock.waiting === 1, { what: 'the cleared emergency disarmed' })

  await clock.advanceTo(startedAt + ESCALATE_S * 1000)
  await until(async () => (await docJson(server, running)).status.escalations === 1, { what: 'the running one escalates' })
  assert.is((await docJson(server, cleared)).status.escalations, 0)
  assert.is((await docJson(server, `s1/inbox/a1`)).items[`emergency:${cleared.split('/').pop()}:escalation:1`], undefined)

  // A restart rescans emergencies: the cleared one is not armed again.
  // Sessions are closed first: one destroyed after it reconnected to the restarted server kept
  // this process from exiting (seen here; not investigated further).
  for (const s of sessions.splice(0)) s.destroy()
  await server.restart()
  await until(async () => {
    await clock.advanceTo(clock.now() + ESCALATE_S * 1000)
    return (await docJson(server, running)).status.escalations >= 2
  }, { what: 'the running one escalates after the restart' })
  assert.is((await docJson(server, cleared)).status.escalations, 0, 'the cleared one never escalated')
  assert.is((await docJson(server, cleared)).broadcast.level, 'info')
})

test.run()
