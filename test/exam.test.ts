// Exams: 40 simulated students from open to close with a server restart in the middle. The
// server opens and closes the exam on time, keeps the monitor current within a second, submits
// and grades every student at close (each grade in its result document), publishes the
// leaderboard the teacher turned on, and late writes get `frozen:`.
// Opening and closing follow a ManualClock the test advances; the monitor's coalescing runs in real time.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { useServer } from './helpers/server.ts'
import { closeClients, connect, DEADLINE_MS, open, openSocket, until, within, type Client } from './helpers/clients.ts'
import { claims, mintToken, student, teacher } from './helpers/tokens.ts'
import { docJson, putRoster } from './helpers/safety.ts'
import { dueStatus, grade } from '../docs-model/surfaces/exam/state.ts'
import { answer, submit } from '../docs-model/surfaces/exam/surface.ts'
import * as Y from 'yjs'
import type { HocuspocusProviderWebsocket } from '@hocuspocus/provider'
import { ManualClock } from './helpers/clock.ts'

const STUDENTS = 40
const KEY = [1, 3, 0, 2, 2, 1]
const DURATION_S = 10
const ids = Array.from({ length: STUDENTS }, (_, i) => `u${String(i).padStart(2, '0')}`)
const choiceOf = (i: number, q: number): number => (i * 7 + q * 3 + (i % 3)) % 4
/** Every tenth student leaves the last question open. */
const answers = (i: number): number[] => KEY.map((_, q) => q).filter((q) => !(i % 10 === 0 && q === KEY.length - 1))
const expectedScore = (i: number): number => answers(i).filter((q) => choiceOf(i, q) === KEY[q]).length

/** The server's time, kept across `server.restart()` so that the exam's deadlines carry on. */
const clock = new ManualClock()
const server = useServer({}, { clock })
test.before(async () => {
  await putRoster(server, 's1', [
    { id: 't1', name: 'Tess Teacher', role: 'teacher' },
    { id: 'pr1', name: 'Pim Proctor', role: 'proctor' },
    ...ids.map((id, i) => ({ id, name: `Student ${i}`, role: 'student' })),
  ])
})
/** Students share one socket for their two documents; clients leave shared sockets open. */
const sockets: HocuspocusProviderWebsocket[] = []
function closeAll(): void {
  closeClients()
  for (const socket of sockets.splice(0)) socket.destroy()
}
test.after.each(closeAll)

test('grading and the schedule as pure functions', () => {
  const doc = new Y.Doc()
  const a = doc.getMap('answers')
  const k = doc.getMap('key')
  KEY.forEach((c, q) => k.set(String(q), c))
  a.set('0', 1)
  a.set('1', 0)
  a.set('4', 2)
  assert.is(grade(a, k), 2)
  assert.is(dueStatus({}, 5), undefined)
  assert.is(dueStatus({ opensAt: 10, closesAt: 20 }, 5), 'scheduled')
  assert.is(dueStatus({ opensAt: 10, closesAt: 20 }, 10), 'open')
  assert.is(dueStatus({ opensAt: 10, closesAt: 20 }, 20), 'closed')
})

interface Sitter {
  exam: Client
  own: Client
}

async function sit(i: number): Promise<Sitter> {
  const token = await mintToken(student(ids[i]))
  const socket = openSocket(server.url)
  sockets.push(socket)
  const exam = connect(server.url, 's1/exam/e1', token, { socket })
  const own = connect(server.url, `s1/exam/e1/student/${ids[i]}`, token, { socket })
  await within(Promise.all([exam.synced, own.synced]), DEADLINE_MS, `sync of ${ids[i]}`)
  return { exam, own }
}

function answerAll(s: Sitter, i: number, questions: number[]): void {
  for (const q of questions) answer(s.own.doc, q, choiceOf(i, q))
}

const statusOf = (c: Client): unknown => c.doc.getMap('meta').get('status')

/**
 * Advances the clock to `at` until `done` holds: the deadline may be armed only after
 * asynchronous work (the schedule's review, a restart's scan), so advancing once is not enough.
 */
async function advanceUntil(at: number, done: () => boolean, what: string): Promise<void> {
  await until(async () => {
    await clock.advanceTo(at)
    return done()
  }, { what })
}

test('40 students from open to close with a restart in the middle', async () => {
  // The teacher schedules the exam and writes the key (students can never open it).
  const t = await mintToken(teacher('t1'))
  const examDoc = connect(server.url, 's1/exam/e1', t)
  const keyDoc = connect(server.url, 's1/exam/e1/key', t)
  await within(Promise.all([examDoc.synced, keyDoc.synced]), DEADLINE_MS, 'teacher sync')
  const startsAt = clock.now() + 2000
  const closesAt = startsAt + DURATION_S * 1000
  examDoc.doc.transact(() => {
    KEY.forEach((_, q) => examDoc.doc.getArray('questions').push([{ prompt: `Question ${q}`, choices: ['a', 'b', 'c', 'd'] }]))
    const meta = examDoc.doc.getMap('meta')
    meta.set('title', 'Algebra midterm')
    meta.set('startsAt', new Date(startsAt).toISOString())
    meta.set('durationSec', DURATION_S)
    meta.set('leaderboard', true)
  })
  keyDoc.doc.transact(() => KEY.forEach((c, q) => keyDoc.doc.getMap('key').set(String(q), c)))
  await Promise.all([examDoc.acknowledged(), keyDoc.acknowledged()])
  await until(() => statusOf(examDoc) === 'scheduled', { what: 'status scheduled' })
  const peeker = connect(server.url, 's1/exam/e1/key', await mintToken(student(ids[0])))
  assert.match(await within(peeker.refused, DEADLINE_MS, 'key refused'), /^forbidden/)

  let sitters = await Promise.all(ids.map((_, i) => sit(i)))
  // The server opens the exam at startsAt, not a millisecond before.
  await until(() => clock.waiting === 1, { what: 'opening armed' })
  await clock.advanceTo(startsAt - 1)
  assert.is(clock.waiting, 1, 'the opening is still pending')
  assert.ok(sitters.every((s) => statusOf(s.exam) === 'scheduled'), 'still scheduled just before startsAt')
  await advanceUntil(startsAt, () => sitters.every((s) => statusOf(s.exam) === 'open'), 'exam open for every student')
  assert.is(clock.now(), startsAt)

  // First half of the answers, then the monitor shows every student within a second.
  sitters.forEach((s, i) => answerAll(s, i, answers(i).slice(0, 3)))
  await Promise.all(sitters.map((s) => s.own.acknowledged()))
  const proctor = connect(server.url, 's1/exam/e1/monitor', await mintToken(claims.proctor('pr1')))
  await within(proctor.synced, DEADLINE_MS, 'monitor sync')
  await until(() => ids.every((id) => (proctor.doc.getMap('students').get(id) as any)?.answered === 3), { timeout: 1000, what: 'monitor shows 3 answers each' })
  assert.is((proctor.doc.getMap('students').get('u05') as any).current, 2)
  assert.is((proctor.doc.getMap('students').get('u05') as any).state, 'in_progress')

  // Restart in the middle of the exam.
  closeAll()
  await server.restart()
  assert.ok(clock.now() < closesAt - 3000, 'the restart happened well before the end')
  assert.is((await docJson(server, 's1/exam/e1')).meta.status, 'open')

  sitters = await Promise.all(ids.map((_, i) => sit(i)))
  for (const [i, s] of sitters.entries()) assert.is(s.own.doc.getMap('answers').size, 3, `answers of ${ids[i]} kept`)
  const monitor = connect(server.url, 's1/exam/e1/monitor', await mintToken(teacher('t1')))
  await within(monitor.synced, DEADLINE_MS, 'monitor sync')

  // The monitor follows one student's change within a (real) second, and sees them at the
  // server's time of the change (the clock moved on since they connected).
  await clock.advance(1000)
  const changedAt = clock.now()
  const changed = Date.now()
  answerAll(sitters[7], 7, [answers(7)[3]])
  await until(() => (monitor.doc.getMap('students').get('u07') as any)?.answered === 4, { timeout: 1000, what: 'monitor within a second' })
  const lag = Date.now() - changed
  const entry = monitor.doc.getMap('students').get('u07') as any
  assert.ok(entry.online === true && entry.lastSeen === changedAt, JSON.stringify(entry))

  sitters.forEach((s, i) => answerAll(s, i, answers(i).slice(3)))
  // Student 1 hands in early; the server stamps the time before the exam closes.
  const submittedAt = clock.now()
  submit(sitters[1].own.doc)
  await Promise.all(sitters.map((s) => s.own.acknowledged()))
  await until(() => sitters[1].own.doc.getMap('status').has('submittedAt'), { what: 'early submission stamped' })

  // The server closes the exam on time, across the restart, and not a millisecond early.
  await until(() => clock.waiting === 1, { what: 'closing armed' })
  await clock.advanceTo(closesAt - 1)
  assert.is(clock.waiting, 1, 'the closing is still pending')
  assert.ok(sitters.every((s) => statusOf(s.exam) === 'open'), 'still open just before the deadline')
  await advanceUntil(closesAt, () => sitters.every((s) => statusOf(s.exam) === 'closed'), 'exam closed')

  // Every student submitted and graded.
  await until(async () => (await docJson(server, 's1/exam/e1')).meta.gradedAt !== undefined, { what: 'graded' })
  assert.is((await docJson(server, 's1/exam/e1')).meta.gradedAt, closesAt, 'graded at the close')
  for (const [i, id] of ids.entries()) {
    const status = (await docJson(server, `s1/exam/e1/student/${id}`)).status
    assert.is(status.state, 'submitted', id)
    assert.not.ok('score' in status, 'the sheet, which proctors read, carries no grade')
    // The server stamps its own time on an early submission; students cannot backdate it.
    if (i === 1) assert.ok(status.submittedAt === submittedAt && status.submittedAt < closesAt, String(status.submittedAt))
  }
  await until(() => ids.every((id) => (monitor.doc.getMap('students').get(id) as any)?.state === 'submitted'), { what: 'submissions in the monitor' })
  assert.ok(ids.every((id) => !('score' in (monitor.doc.getMap('students').get(id) as any))), 'the monitor carries no grade')

  // Each student's grade, in the result document the student, teachers and parents read.
  await until(async () => (await docJson(server, `s1/exam/e1/result/${ids.at(-1)}`)).result.score !== undefined, { what: 'results written' })
  for (const [i, id] of ids.entries()) {
    const status = (await docJson(server, `s1/exam/e1/student/${id}`)).status
    assert.equal((await docJson(server, `s1/exam/e1/result/${id}`)).result, { score: expectedScore(i), of: KEY.length, submittedAt: status.submittedAt }, id)
  }
  const ownResult = await open(server, 's1/exam/e1/result/u05', student('u05'))
  assert.is(ownResult.doc.getMap('result').get('score'), expectedScore(5), 'the student reads their grade live')
  // Scores feed the exam's leaderboard: the teacher turned it on.
  const board = (await docJson(server, 's1/leaderboard/exam-e1')).entries
  assert.is(Object.keys(board).length, STUDENTS)
  for (const [i, id] of ids.entries()) {
    assert.is(board[id].score, expectedScore(i))
    assert.is(board[id].name, `Student ${i}`)
    assert.is(board[id].rank, 1 + ids.filter((_, j) => expectedScore(j) > expectedScore(i)).length)
  }

  // A late answer is refused: the document is frozen.
  sitters[3].own.doc.getMap('answers').set('0', 3)
  assert.match(await within(sitters[3].own.closed, DEADLINE_MS, 'late write refused'), /^frozen/)
  assert.is((await docJson(server, 's1/exam/e1/student/u03')).answers['0'], choiceOf(3, 0))
  console.log(`exam: monitor lag ${lag} ms`)
})

test('a teacher closing early grades at once; correcting the key after close regrades', async () => {
  const t = await mintToken(teacher('t1'))
  const examDoc = connect(server.url, 's1/exam/e3', t)
  const keyDoc = connect(server.url, 's1/exam/e3/key', t)
  await within(Promise.all([examDoc.synced, keyDoc.synced]), DEADLINE_MS, 'teacher sync')
  keyDoc.doc.transact(() => [0, 1].forEach((q) => keyDoc.doc.getMap('key').set(String(q), 2)))
  examDoc.doc.transact(() => {
    examDoc.doc.getMap('meta').set('startsAt', clock.now() - 1000)
    examDoc.doc.getMap('meta').set('durationSec', 3600)
  })
  await Promise.all([examDoc.acknowledged(), keyDoc.acknowledged()])
  await until(() => statusOf(examDoc) === 'open', { what: 'open' })
  const u = connect(server.url, 's1/exam/e3/student/u01', await mintToken(student('u01')))
  await within(u.synced, DEADLINE_MS, 'student sync')
  answer(u.doc, 0, 2)
  answer(u.doc, 1, 1)
  await u.acknowledged()

  examDoc.doc.getMap('meta').set('status', 'closed')
  const result = await open(server, 's1/exam/e3/result/u01', student('u01'))
  await until(() => result.doc.getMap('result').get('score') === 1, { what: 'graded at the early close' })
  assert.is(u.doc.getMap('status').get('state'), 'submitted')
  keyDoc.doc.getMap('key').set('1', 1)
  await until(() => result.doc.getMap('result').get('score') === 2, { what: 'regraded' })
  assert.equal((await docJson(server, 's1/leaderboard/exam-e3')).entries, {}, 'no leaderboard unless the teacher turns it on')
  assert.is(statusOf(examDoc), 'closed', 'never reopened')
})

test.run()
