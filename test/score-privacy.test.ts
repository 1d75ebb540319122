// Scores are private by default. A quiz's or exam's scores reach a leaderboard only when the
// teacher turns it on in meta; a quiz's poll document carries only aggregates, each voter's result
// is in a document that voter and teachers read; an exam's grade is in a document the student,
// teachers and that student's parents read (not proctors, other students or other parents).
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { useServer } from './helpers/server.ts'
import { closeClients, connect, DEADLINE_MS, open, until, within } from './helpers/clients.ts'
import { claims, mintToken, student, teacher } from './helpers/tokens.ts'
import { classTeacher, createPoll, mapEquals, students } from './helpers/classroom.ts'
import { docJson } from './helpers/safety.ts'
import { ManualClock } from './helpers/clock.ts'
import { vote } from '../docs-model/surfaces/poll/surface.ts'
import { answer } from '../docs-model/surfaces/exam/surface.ts'
import type { Claims } from '../server/identity.ts'

const clock = new ManualClock()
const server = useServer({}, { clock })
test.after.each(closeClients)

/** Whether `who` may open `name`: the provider syncs, or the server refuses it as forbidden. */
async function opens(name: string, who: Claims): Promise<boolean> {
  const client = connect(server.url, name, await mintToken(who))
  const outcome = await within(Promise.race([client.synced.then(() => true), client.refused.then((reason) => (assert.match(reason, /^forbidden/), false))]), DEADLINE_MS, `opening ${name} as ${who.sub}`)
  client.provider.destroy()
  return outcome
}

async function closedQuiz(id: string, leaderboard?: boolean | string): Promise<number> {
  const watcher = await open(server, `s1/poll/${id}`, classTeacher())
  const key = await open(server, `s1/poll/${id}/key`, classTeacher())
  key.doc.getMap('key').set('correct', 1)
  await key.acknowledged()
  await createPoll(watcher, { options: ['a', 'b'], kind: 'quiz', ...(leaderboard === undefined ? {} : { leaderboard }) })
  const voters = await Promise.all(students(3).map((c) => open(server, `s1/poll/${id}/ballot/${c.sub}`, c)))
  voters.forEach((v, i) => vote(v.doc, i === 0 ? 0 : 1))
  await Promise.all(voters.map((v) => v.acknowledged()))
  const closesAt = Date.now()
  watcher.doc.getMap('meta').set('closesAt', closesAt)
  await watcher.acknowledged()
  await until(() => clock.waiting > 0, { what: 'the close armed' })
  await clock.advance(Math.max(1, closesAt - clock.now()))
  await mapEquals(watcher.doc, 'results', { closedAt: closesAt, total: 3, correct: 1, correctCount: 2 })
  return closesAt
}

test('a quiz without leaderboard in its meta ranks nobody; its poll document holds aggregates only', async () => {
  const closesAt = await closedQuiz('qp1')
  const poll = await docJson(server, 's1/poll/qp1')
  assert.not.ok(JSON.stringify(poll).includes('u2'), `no voter named in the poll document: ${JSON.stringify(poll)}`)
  assert.equal((await docJson(server, 's1/leaderboard/qp1')).entries, {})
  await until(async () => (await docJson(server, 's1/poll/qp1/result/u3')).result.points === 1, { what: 'results written' })
  const own = await open(server, 's1/poll/qp1/result/u1', student('u1', { classes: ['7a'] }))
  assert.equal(own.doc.getMap('result').toJSON(), { choice: 0, correct: false, points: 0, closedAt: closesAt })

  assert.ok(await opens('s1/poll/qp1/result/u1', classTeacher()), 'teachers read results')
  assert.not.ok(await opens('s1/poll/qp1/result/u1', student('u2', { classes: ['7a'] })), 'another student may not')
  assert.not.ok(await opens('s1/poll/qp1/result/u1', claims.parent('p1', { children: ['u1'] })), 'a quiz result is the student\'s and teachers\' only')
  assert.not.ok(await opens('s1/poll/qp1/result/u1', claims.proctor('pr1')))
})

test('a quiz with leaderboard: true ranks on its own board', async () => {
  await closedQuiz('qp2', true)
  await until(async () => Object.keys((await docJson(server, 's1/leaderboard/qp2')).entries).length === 3, { what: 'the board' })
  assert.is((await docJson(server, 's1/leaderboard/qp2')).entries.u2.rank, 1)
})

test('an anonymous quiz writes no per-voter result, so teachers cannot learn who chose what', async () => {
  const watcher = await open(server, 's1/poll/qp3', classTeacher())
  const key = await open(server, 's1/poll/qp3/key', classTeacher())
  key.doc.getMap('key').set('correct', 0)
  await key.acknowledged()
  await createPoll(watcher, { options: ['a', 'b'], kind: 'quiz', anonymous: true, leaderboard: true })
  const voter = await open(server, 's1/poll/qp3/ballot/u1', student('u1'))
  vote(voter.doc, 0)
  await voter.acknowledged()
  const closesAt = Date.now()
  watcher.doc.getMap('meta').set('closesAt', closesAt)
  await watcher.acknowledged()
  await until(() => clock.waiting > 0, { what: 'the close armed' })
  await clock.advance(Math.max(1, closesAt - clock.now()))
  await mapEquals(watcher.doc, 'results', { closedAt: closesAt, total: 1, correct: 0, correctCount: 1 })
  assert.equal((await docJson(server, 's1/poll/qp3/result/u1')).result, {})
  assert.equal((await docJson(server, 's1/leaderboard/qp3')).entries, {}, 'not even when the leaderboard is on')
})

test('an exam grade is read by the student, teachers and the student\'s parents only; no leaderboard unless turned on', async () => {
  const t = await mintToken(teacher('t1'))
  const examDoc = connect(server.url, 's1/exam/ex1', t)
  const keyDoc = connect(server.url, 's1/exam/ex1/key', t)
  await within(Promise.all([examDoc.synced, keyDoc.synced]), DEADLINE_MS, 'teacher sync')
  keyDoc.doc.getMap('key').set('0', 2)
  examDoc.doc.transact(() => {
    examDoc.doc.getMap('meta').set('startsAt', clock.now() - 1000)
    examDoc.doc.getMap('meta').set('durationSec', 3600)
  })
  await Promise.all([examDoc.acknowledged(), keyDoc.acknowledged()])
  await until(() => examDoc.doc.getMap('meta').get('status') === 'open', { what: 'open' })
  const sheet = await open(server, 's1/exam/ex1/student/u1', student('u1'))
  answer(sheet.doc, 0, 2)
  await sheet.acknowledged()
  examDoc.doc.getMap('meta').set('status', 'closed')
  await until(async () => (await docJson(server, 's1/exam/ex1/result/u1')).result.score === 1, { what: 'graded' })

  const mine = await open(server, 's1/exam/ex1/result/u1', student('u1'))
  assert.is(mine.doc.getMap('result').get('score'), 1)
  assert.is(mine.doc.getMap('result').get('of'), 1)
  assert.ok(await opens('s1/exam/ex1/result/u1', teacher('t2')))
  assert.ok(await opens('s1/exam/ex1/result/u1', claims.parent('p1', { children: ['u1'] })), 'the student\'s parent')
  assert.not.ok(await opens('s1/exam/ex1/result/u1', claims.parent('p2', { children: ['u2'] })), 'another student\'s parent')
  assert.not.ok(await opens('s1/exam/ex1/result/u1', student('u2')), 'another student')
  assert.not.ok(await opens('s1/exam/ex1/result/u1', claims.proctor('pr1')), 'proctors watch sheets, not grades')
  assert.equal((await docJson(server, 's1/leaderboard/exam-ex1')).entries, {})
})

test.run()
