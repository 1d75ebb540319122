// The typed clients added for apps, on a real server: the server's clock behind exam countdowns
// (a device clock ten minutes wrong does not matter), the participant count students see,
// marking a whole inbox read, the leaderboard with the user's own rank, and an explicit reconnect.
import WebSocket from 'ws'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { useServer } from './helpers/server.ts'
import { ManualClock } from './helpers/clock.ts'
import { until, within } from './helpers/clients.ts'
import { claims, mintToken, student } from './helpers/tokens.ts'
import { serverWrite } from '../server/writes.ts'
import { applyScores } from '../docs-model/surfaces/leaderboard/state.ts'
import { DashboardClient, ExamClient, InboxClient, LeaderboardClient, Session, SystemStatusClient } from '../docs-model/client/index.ts'

// The server's clock runs ten minutes ahead of this machine's: a device clock that is wrong by as much.
const SKEW_MS = 10 * 60_000
const clock = new ManualClock(Date.now() + SKEW_MS)
const server = useServer({}, { clock })
const sessions: Session[] = []
test.after.each(() => {
  for (const s of sessions.splice(0)) s.destroy()
})

async function session(who: Parameters<typeof mintToken>[0]): Promise<Session> {
  const s = await Session.start({ url: server.url, token: () => mintToken(who), WebSocketPolyfill: WebSocket })
  sessions.push(s)
  return s
}

test('exam.remainingMs() counts down by the server’s clock, not the device’s', async () => {
  const startsAt = clock.now() - 60_000
  await serverWrite(server.app.hocuspocus, 's1/exam/timed', (doc) => {
    const meta = doc.getMap('meta')
    meta.set('status', 'open')
    meta.set('startsAt', startsAt)
    meta.set('durationSec', 30 * 60)
  })
  const s = await session(student('u1'))
  const exam = new ExamClient(s, 's1', 'timed')
  await within(exam.exam.ready, 10_000, 'exam open')
  await until(() => s.heardServer, { what: 'the server clock message' })
  const remaining = exam.remainingMs()!
  const expected = startsAt + 30 * 60_000 - clock.now()
  // By the device clock 39 minutes would remain; by the server's, 29 (less the moments the test took).
  assert.ok(remaining <= expected && remaining > expected - 10_000, `remaining ${remaining} ms, expected about ${expected} ms`)
})

test('students see how many students are on the exam, themselves included', async () => {
  const a = new ExamClient(await session(student('u1')), 's1', 'timed')
  await within(a.exam.ready, 10_000, 'u1 on the exam')
  assert.is(a.participants(), 1)
  const b = new ExamClient(await session(student('u2')), 's1', 'timed')
  await within(b.exam.ready, 10_000, 'u2 on the exam')
  const teacher = await session(claims.teacher('t1'))
  await within(teacher.open('s1/exam/timed').ready, 10_000, 'teacher on the exam')
  // Well before the provider's 15 s awareness renewal: a student is counted as they join.
  await until(() => a.participants() === 2 && b.participants() === 2, { timeout: 10_000, what: 'both students counted, the teacher not' })
})

test('inbox.markAllRead() clears the badge in one change', async () => {
  const s = await session(student('u3'))
  const inbox = new InboxClient(s, 's1')
  await within(inbox.handle.ready, 10_000, 'inbox open')
  await serverWrite(server.app.hocuspocus, 's1/inbox/u3', (doc) => {
    for (const id of ['n1', 'n2', 'n3']) doc.getMap('items').set(id, { type: 'notice', title: id, body: '', priority: 'normal', at: 1 })
  })
  await until(() => inbox.unread() === 3, { what: 'three unread' })
  let changes = 0
  inbox.handle.on('change', () => changes++)
  inbox.markAllRead()
  assert.is(inbox.unread(), 0)
  assert.is(changes, 1)
  await until(async () => (await server.app.peek('s1/inbox/u3')).getMap('read').size === 3, { what: 'the reads on the server' })
})

test('the leaderboard lists entries best first, with the user’s own rank', async () => {
  await serverWrite(server.app.hocuspocus, 's1/leaderboard/term', (doc) => applyScores(doc, 'quiz1', { u1: { name: 'Ada', score: 7 }, u2: { name: 'Ben', score: 9 } }))
  const board = new LeaderboardClient(await session(student('u1')), 's1', 'term')
  await within(board.handle.ready, 10_000, 'board open')
  assert.equal(board.entries().map((e) => [e.user, e.rank]), [['u2', 1], ['u1', 2]])
  assert.equal(board.mine(), { user: 'u1', name: 'Ada', score: 7, rank: 2 })
})

test('dashboards: an admin merges, a teacher watches; the system status reaches admins', async () => {
  const admin = new DashboardClient(await session(claims.admin('a1')), 's1', 'attendance')
  const teacher = new DashboardClient(await session(claims.teacher('t1')), 's1', 'attendance')
  await within(Promise.all([admin.handle.ready, teacher.handle.ready]), 10_000, 'dashboards open')
  assert.equal(admin.merge({ '7a': 0.96, '7b': 0.91 }).sort(), ['7a', '7b'])
  await until(() => teacher.data()['7a'] === 0.96, { what: 'the teacher sees the merge' })
  assert.throws(() => teacher.merge({ '7a': 1 }), /not allowed/)
  const status = new SystemStatusClient(await session(claims.admin('a1')), 's1')
  await until(() => typeof status.figures().connections === 'number', { what: 'the server’s figures' })
})

test('session.reconnect() asks the token function again and comes back online', async () => {
  let calls = 0
  const s = await Session.start({ url: server.url, token: () => (calls++, mintToken(student('u1'))), WebSocketPolyfill: WebSocket })
  sessions.push(s)
  const handle = s.open('s1/chat/reconnect')
  await within(handle.ready, 10_000, 'chat open')
  await until(() => s.state() === 'online', { what: 'online' })
  const before = calls
  s.reconnect()
  await until(() => calls > before && s.state() === 'online', { what: 'online again with a fresh token' })
})

test.run()
