// Proctoring evidence from more than the student, and submission times that are the server's:
// proctors and detection services append `events` with their own `source` (a forged one is
// refused), a teacher reopens one student's submitted sheet while the exam is open, an early
// submission is graded at once, and `submittedAt` is when the student submitted or the deadline
// of the automatic submission, also when the server was down at the deadline. Times follow a ManualClock.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { useServer } from './helpers/server.ts'
import { closeClients, connect, DEADLINE_MS, open, until, within, type Client } from './helpers/clients.ts'
import { claims, mintToken, student, teacher } from './helpers/tokens.ts'
import { docJson } from './helpers/safety.ts'
import { ManualClock } from './helpers/clock.ts'
import { answer, reopen, reportEvent, submit } from '../docs-model/surfaces/exam/surface.ts'

const SERVICE_TOKEN = 'service-token-0123456789abcdef'
const clock = new ManualClock()
const server = useServer({ SERVICE_TOKEN }, { clock })
test.after.each(closeClients)

/** An open exam `id` whose key makes choice 1 right for questions 0 and 1, closing after `durationSec`. */
async function openExam(id: string, durationSec = 3600): Promise<{ exam: Client; closesAt: number }> {
  const t = await mintToken(teacher('t1'))
  const exam = connect(server.url, `s1/exam/${id}`, t)
  const key = connect(server.url, `s1/exam/${id}/key`, t)
  await within(Promise.all([exam.synced, key.synced]), DEADLINE_MS, 'teacher sync')
  key.doc.transact(() => [0, 1].forEach((q) => key.doc.getMap('key').set(String(q), 1)))
  const startsAt = clock.now() - 1000
  exam.doc.transact(() => {
    exam.doc.getMap('meta').set('startsAt', startsAt)
    exam.doc.getMap('meta').set('durationSec', durationSec)
  })
  await Promise.all([exam.acknowledged(), key.acknowledged()])
  await until(() => exam.doc.getMap('meta').get('status') === 'open', { what: 'open' })
  return { exam, closesAt: startsAt + durationSec * 1000 }
}

const sheetName = (exam: string, user: string) => `s1/exam/${exam}/student/${user}`
const resultOf = async (exam: string, user: string) => (await docJson(server, `s1/exam/${exam}/result/${user}`)).result

test('proctors and detection services append events with their own source; a forged source is refused', async () => {
  await openExam('ev1')
  const proctor = await open(server, sheetName('ev1', 'u1'), claims.proctor('pr1'))
  reportEvent(proctor.doc, 'multiple_faces', clock.now(), 'two people at the desk', 'proctor')
  await proctor.acknowledged()
  const detector = await open(server, sheetName('ev1', 'u1'), SERVICE_TOKEN)
  reportEvent(detector.doc, 'face_missing', clock.now(), { durationSec: 12 }, 'service:service')
  await detector.acknowledged()
  const own = await open(server, sheetName('ev1', 'u1'), student('u1'))
  reportEvent(own.doc, 'tab_switch', clock.now())
  await own.acknowledged()
  assert.equal((await docJson(server, sheetName('ev1', 'u1'))).events.map((e: any) => e.source ?? 'student'), ['proctor', 'service:service', 'student'])
  await until(async () => (await docJson(server, 's1/exam/ev1/monitor')).alerts['u1:multiple_faces']?.severity === 'critical', { what: "the proctor's incident raises an alert" })

  const forged: Array<[string, Parameters<typeof open>[2], string | undefined]> = [
    ['a proctor claiming the student', claims.proctor('pr1'), 'student'],
    ['a proctor without a source', claims.proctor('pr1'), undefined],
    ['a student claiming a proctor', student('u1'), 'proctor'],
    ['a student claiming a service', student('u1'), 'service:detector'],
    ['a service naming another service', claims.service('detector', { schools: ['*'] }), 'service:other'],
  ]
  for (const [what, who, source] of forged) {
    const client = await open(server, sheetName('ev1', 'u1'), who)
    reportEvent(client.doc, 'copy_paste', clock.now(), undefined, source as any)
    assert.match(await within(client.closed, DEADLINE_MS, what), /^forbidden-write: events/, what)
  }
  assert.is((await docJson(server, sheetName('ev1', 'u1'))).events.length, 3, 'nothing forged was stored')
  // Teachers read the evidence but do not write it.
  const t = await open(server, sheetName('ev1', 'u1'), teacher('t1'))
  reportEvent(t.doc, 'copy_paste', clock.now(), undefined, 'proctor')
  assert.match(await within(t.closed, DEADLINE_MS, 'teacher event'), /^forbidden-write: events/)
})

test('an early submission is graded at once and dated when it was made; a teacher reopens it while the exam is open', async () => {
  const { exam } = await openExam('ev2')
  const sheet = await open(server, sheetName('ev2', 'u2'), student('u2'))
  answer(sheet.doc, 0, 1)
  answer(sheet.doc, 1, 0)
  await sheet.acknowledged()
  await clock.advance(60_000)
  const handedIn = clock.now()
  submit(sheet.doc)
  await sheet.acknowledged()
  await until(async () => (await resultOf('ev2', 'u2')).score === 1, { what: 'graded at once' })
  assert.equal(await resultOf('ev2', 'u2'), { score: 1, of: 2, submittedAt: handedIn })
  assert.is(sheet.doc.getMap('status').get('submittedAt'), handedIn)
  assert.is(exam.doc.getMap('meta').get('status'), 'open', 'before the exam closes')

  // Only a teacher reopens, and only to in_progress.
  const other = await open(server, sheetName('ev2', 'u2'), claims.proctor('pr1'))
  reopen(other.doc)
  assert.match(await within(other.closed, DEADLINE_MS, 'proctor reopening'), /^forbidden-write: status\/state/)
  const t = await open(server, sheetName('ev2', 'u2'), teacher('t1'))
  t.doc.getMap('status').set('state', 'graded')
  assert.match(await within(t.closed, DEADLINE_MS, 'another state'), /^forbidden-write: status\/state/)
  const reopener = await open(server, sheetName('ev2', 'u2'), teacher('t1'))
  reopen(reopener.doc)
  await reopener.acknowledged()
  await until(() => !sheet.doc.getMap('status').has('submittedAt'), { what: 'the submission cleared' })
  await until(async () => (await resultOf('ev2', 'u2')).score === undefined, { what: 'the grade cleared' })

  // The student answers again and hands in again: a new time, a new grade.
  answer(sheet.doc, 1, 1)
  await sheet.acknowledged()
  await clock.advance(30_000)
  submit(sheet.doc)
  await sheet.acknowledged()
  await until(async () => (await resultOf('ev2', 'u2')).score === 2, { what: 'graded again' })
  assert.is((await resultOf('ev2', 'u2')).submittedAt, handedIn + 30_000)

  // Once the exam is closed nobody reopens.
  exam.doc.getMap('meta').set('status', 'closed')
  await exam.acknowledged()
  await until(async () => (await docJson(server, 's1/exam/ev2')).meta.gradedAt !== undefined, { what: 'graded' })
  const late = await open(server, sheetName('ev2', 'u2'), teacher('t1'))
  reopen(late.doc)
  assert.match(await within(late.closed, DEADLINE_MS, 'reopen after close'), /^frozen: exam closed/)
  assert.is((await resultOf('ev2', 'u2')).submittedAt, handedIn + 30_000, 'closing keeps the time the student handed in')
})

test('the automatic submission is dated at the deadline, also when the server was down then', async () => {
  const { closesAt } = await openExam('ev3', 60)
  const sheet = await open(server, sheetName('ev3', 'u3'), student('u3'))
  answer(sheet.doc, 0, 1)
  await sheet.acknowledged()
  closeClients()
  await server.stop()
  await clock.advanceTo(closesAt + 3_600_000) // an hour after the deadline, nobody running
  await server.restart()
  await until(async () => (await resultOf('ev3', 'u3')).score === 1, { what: 'graded after the restart' })
  assert.is((await docJson(server, sheetName('ev3', 'u3'))).status.submittedAt, closesAt)
  assert.is((await resultOf('ev3', 'u3')).submittedAt, closesAt)
  assert.is((await docJson(server, 's1/exam/ev3')).meta.closedAt, closesAt)
})

test.run()
