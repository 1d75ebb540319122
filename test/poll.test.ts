// Polls and quizzes end to end: ballots in per-user documents, live tallies derived by the
// server, anonymity towards teachers, the close at closesAt (also across a restart), quiz
// results and the leaderboard they feed.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { startServer, tempDir, useServer, type TestServer } from './helpers/server.ts'
import { closeClients, connect, DEADLINE_MS, open, until, within } from './helpers/clients.ts'
import { mintToken, student, teacher } from './helpers/tokens.ts'
import { classTeacher, createPoll, mapEquals, students } from './helpers/classroom.ts'
import { FaultyStore } from './helpers/faulty-store.ts'
import { ManualClock } from './helpers/clock.ts'
import { vote } from '../docs-model/surfaces/poll/surface.ts'
import { CLOSE_RETRY_MS } from '../extensions/observers/poll.ts'

// Closes fire when a test advances this clock, not after real seconds.
const clock = new ManualClock()
/** How long the poll observer waits before retrying a failed close (extensions/observers/poll.ts). */

const server = useServer({}, { clock })
test.after.each(closeClients)

test('a class of 30 students votes while the teacher watches the tallies', async () => {
  const watcher = await open(server, 's1/poll/p30', classTeacher())
  await createPoll(watcher, { options: ['red', 'green', 'blue'] })
  await mapEquals(watcher.doc, 'tallies', { 0: 0, 1: 0, 2: 0 })

  const voters = await Promise.all(students(30).map((claims) => open(server, `s1/poll/p30/ballot/${claims.sub}`, claims)))
  voters.forEach((voter, i) => vote(voter.doc, i % 3))
  await mapEquals(watcher.doc, 'tallies', { 0: 10, 1: 10, 2: 10 })

  // One vote per user, changeable: four red and three green voters switch to blue.
  for (const voter of voters.slice(0, 10)) vote(voter.doc, 2)
  await mapEquals(watcher.doc, 'tallies', { 0: 6, 1: 7, 2: 17 })
})

test('a ballot outside the options is refused and not counted', async () => {
  const watcher = await open(server, 's1/poll/pbad', classTeacher())
  await createPoll(watcher, { options: ['yes', 'no'] })
  const voter = await open(server, 's1/poll/pbad/ballot/u1', student('u1'))
  vote(voter.doc, 7)
  assert.match(await within(voter.closed, DEADLINE_MS, 'refusal'), /^forbidden-write: ballot\/choice/)
  const honest = await open(server, 's1/poll/pbad/ballot/u2', student('u2'))
  vote(honest.doc, 1)
  await mapEquals(watcher.doc, 'tallies', { 0: 0, 1: 1 })
})

test('an anonymous poll shows the teacher counts but never a ballot', async () => {
  const watcher = await open(server, 's1/poll/anon', classTeacher())
  await createPoll(watcher, { options: ['a', 'b'], anonymous: true })
  const voters = await Promise.all(students(4).map((claims) => open(server, `s1/poll/anon/ballot/${claims.sub}`, claims)))
  voters.forEach((voter, i) => vote(voter.doc, i === 0 ? 0 : 1))
  await mapEquals(watcher.doc, 'tallies', { 0: 1, 1: 3 })

  const peeking = connect(server.url, 's1/poll/anon/ballot/u1', await mintToken(classTeacher()))
  assert.match(await within(peeking.refused, DEADLINE_MS, 'refusal of the ballot'), /^forbidden/)
  assert.is(peeking.doc.getMap('ballot').size, 0, 'nothing of the ballot reached the teacher')
  assert.not.ok(JSON.stringify(watcher.doc.toJSON()).includes('u1'), 'the poll document names no voter')

  // The same teacher may read ballots of a poll that is not anonymous.
  const open_ = await open(server, 's1/poll/p30/ballot/u1', classTeacher())
  assert.is(open_.doc.getMap('ballot').get('choice'), 2)
})

test('the server closes a quiz at closesAt, publishes aggregates and each voter\'s own result, and feeds the leaderboard it names', async () => {
  const watcher = await open(server, 's1/poll/q1', classTeacher())
  const key = await open(server, 's1/poll/q1/key', classTeacher())
  key.doc.getMap('key').set('correct', 1)
  await key.acknowledged()
  await createPoll(watcher, { options: ['3', '4', '5'], kind: 'quiz', leaderboard: 'math' })
  const [ana, ben, cat] = await Promise.all(students(3).map((claims) => open(server, `s1/poll/q1/ballot/${claims.sub}`, claims)))
  vote(ana.doc, 1)
  vote(ben.doc, 0)
  vote(cat.doc, 1)
  await Promise.all([ana, ben, cat].map((c) => c.acknowledged()))
  const board = await open(server, 's1/leaderboard/math', student('u9'))
  await mapEquals(watcher.doc, 'tallies', { 0: 1, 1: 2, 2: 0 })

  // The deadline is set once the ballots are in, at the real time of setting: the write guard
  // freezes ballots by real time, the observer closes by the server's clock, and from closesAt
  // on both agree that the quiz is closed.
  const closesAt = Date.now()
  watcher.doc.getMap('meta').set('closesAt', closesAt)
  await watcher.acknowledged()
  await until(() => clock.waiting > 0, { what: 'the close to be armed' })
  await clock.advance(Math.max(0, closesAt - 1 - clock.now()))
  assert.is(watcher.doc.getMap('results').size, 0, 'not closed before closesAt')
  await clock.advance(1)

  await mapEquals(watcher.doc, 'results', { closedAt: closesAt, total: 3, correct: 1, correctCount: 2 }, 5000)
  // Each voter's own result, in a document only they and teachers read.
  const result = await open(server, 's1/poll/q1/result/u2', student('u2'))
  await mapEquals(result.doc, 'result', { choice: 0, correct: false, points: 0, closedAt: closesAt })
  await mapEquals(watcher.doc, 'tallies', { 0: 1, 1: 2, 2: 0 })
  await mapEquals(board.doc, 'entries', {
    u1: { name: 'u1', score: 1, rank: 1 },
    u3: { name: 'u3', score: 1, rank: 1 },
    u2: { name: 'u2', score: 0, rank: 3 },
  })

  // A vote after the close is refused as frozen and changes nothing.
  vote(ben.doc, 1)
  assert.match(await within(ben.closed, DEADLINE_MS, 'frozen refusal'), /^frozen:/)
  await mapEquals(watcher.doc, 'tallies', { 0: 1, 1: 2, 2: 0 })
})

test('a poll whose closesAt passes while the server is down is closed after the restart', async () => {
  const dataDir = tempDir()
  // One clock across the restart, as the wall clock would be.
  const clock = new ManualClock()
  let first: TestServer | undefined = await startServer({}, { dataDir, clock })
  let second: TestServer | undefined
  try {
    // Far enough ahead that the ballot is journaled, and let in by the guard, well before it.
    const closesAt = clock.now() + 60_000
    const watcher = connect(first.url, 's1/poll/pr', await mintToken(teacher()))
    await within(watcher.synced, DEADLINE_MS, 'sync')
    await createPoll(watcher, { options: ['x', 'y'], closesAt })
    const voter = connect(first.url, 's1/poll/pr/ballot/u1', await mintToken(student('u1')))
    await within(voter.synced, DEADLINE_MS, 'sync')
    vote(voter.doc, 1)
    await voter.acknowledged()
    await mapEquals(watcher.doc, 'tallies', { 0: 0, 1: 1 })
    closeClients()
    await first.stop()
    first = undefined

    assert.is(clock.waiting, 0, 'no close pending while stopped')
    await clock.advance(closesAt - clock.now() + 1) // the deadline passes while stopped
    second = await startServer({}, { dataDir, clock })
    const reader = connect(second.url, 's1/poll/pr', await mintToken(student('u2')))
    await within(reader.synced, DEADLINE_MS, 'sync after restart')
    assert.is(reader.doc.getMap('results').size, 0, 'not closed before the restart')
    // A deadline already past is re-armed to fire at once: at once on this clock is its next step.
    await until(() => clock.waiting > 0, { what: 'the close re-armed after the restart' })
    await clock.advance(0)
    await mapEquals(reader.doc, 'results', { closedAt: closesAt, total: 1 })
    await mapEquals(reader.doc, 'tallies', { 0: 0, 1: 1 })
  } finally {
    closeClients()
    await first?.stop()
    await second?.stop()
    rmSync(dataDir, { recursive: true, force: true })
  }
})

test('a failed close is counted, retried once storage answers, and a key fixed after the close updates the results', async () => {
  const dataDir = tempDir()
  const store = new FaultyStore(join(dataDir, 'homeroom.db'))
  const clock = new ManualClock()
  const faulty = await startServer({}, { dataDir, store, clock })
  const errors = async () => (await faulty.app.metrics.observerErrors.get()).values.find((v) => v.labels.where === 'poll-observer')?.value ?? 0
  try {
    const teacherToken = await mintToken(classTeacher())
    const key = connect(faulty.url, 's1/poll/qf/key', teacherToken)
    await within(key.synced, DEADLINE_MS, 'sync')
    key.doc.getMap('key').set('correct', 0)
    await key.acknowledged()
    key.destroy()
    await until(() => !faulty.app.hocuspocus.documents.has('s1/poll/qf/key'), { what: 'the key to unload' })
    store.failLoadsOf = 's1/poll/qf/key'

    // Far enough ahead that the ballot is journaled, and let in by the guard, well before it.
    const closesAt = clock.now() + 60_000
    const watcher = connect(faulty.url, 's1/poll/qf', teacherToken)
    await within(watcher.synced, DEADLINE_MS, 'sync')
    await createPoll(watcher, { options: ['a', 'b'], kind: 'quiz', closesAt })
    const voter = connect(faulty.url, 's1/poll/qf/ballot/u1', await mintToken(student('u1')))
    await within(voter.synced, DEADLINE_MS, 'sync')
    vote(voter.doc, 1)
    await voter.acknowledged()
    await mapEquals(watcher.doc, 'tallies', { 0: 0, 1: 1 })
    assert.is(await errors(), 0, 'nothing fails before the close')

    await clock.advance(closesAt - clock.now())
    await until(async () => (await errors()) > 0, { what: 'the failed read of the key to be counted' })
    await mapEquals(watcher.doc, 'tallies', { 0: 0, 1: 1 })
    assert.is(watcher.doc.getMap('results').get('correct'), undefined)

    // Once storage answers again the close is retried by itself, CLOSE_RETRY_MS (2 s) later.
    store.heal()
    await clock.advance(CLOSE_RETRY_MS)
    await mapEquals(watcher.doc, 'results', { closedAt: closesAt, total: 1, correct: 0, correctCount: 0 })

    const fixer = connect(faulty.url, 's1/poll/qf/key', teacherToken)
    await within(fixer.synced, DEADLINE_MS, 'sync')
    fixer.doc.getMap('key').set('correct', 1)
    await mapEquals(watcher.doc, 'results', { closedAt: closesAt, total: 1, correct: 1, correctCount: 1 })
  } finally {
    closeClients()
    await faulty.stop()
    rmSync(dataDir, { recursive: true, force: true })
  }
})

test.run()
