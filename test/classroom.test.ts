// Classroom monitoring end to end: students report their own activity, the server derives the
// class's stats live, and the entries of students who disconnect turn away by themselves.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { rmSync } from 'node:fs'
import { startServer, startServerProcess, tempDir, useServer, type TestServer } from './helpers/server.ts'
import { ManualClock } from './helpers/clock.ts'
import { closeClients, connect, DEADLINE_MS, open, until, within } from './helpers/clients.ts'
import { mintToken, student } from './helpers/tokens.ts'
import { classTeacher, mapEquals, students } from './helpers/classroom.ts'
import { reportActivity } from '../docs-model/surfaces/class/surface.ts'
import { RECONNECT_GRACE_MS } from '../extensions/observers/classroom.ts'

// The away sweep after a load (10 s) fires only when a test advances this clock.
const server = useServer({}, { clock: new ManualClock() })
test.before(async () => {
  await server.app.store.putRoster('s1', [
    ...students(4).map((s) => ({ id: s.sub, name: s.sub, role: 'student', classes: ['7a'] })),
    { id: 't1', name: 'Ms T', role: 'teacher', classes: ['7a'] },
  ])
})
test.after.each(closeClients)

/** The classroom observer's reconnect grace after a class document loads (extensions/observers/classroom.ts). */

const serverWrites = async (name: string) => (await server.app.store.entriesAfter(name, 0)).filter((e) => e.origin === 'server').length

test('stats follow the students\' activity live, and leavers turn away', async () => {
  const teacher = await open(server, 's1/class/7a', classTeacher())
  const [u1, u2, u3] = await Promise.all(students(3).map((claims) => open(server, 's1/class/7a', claims)))
  reportActivity(u1.doc, 'u1', 'active', { page: '/lesson/3' })
  reportActivity(u2.doc, 'u2', 'idle')
  reportActivity(u3.doc, 'u3', 'active', { handRaised: true })
  // Four students on the roster, two of them active.
  await mapEquals(teacher.doc, 'stats', { active: 2, idle: 1, away: 0, participation: 50, handsRaised: 1 })

  // A second tab of u1 closing leaves u1 active; the last one closing makes u1 away.
  const secondTab = await open(server, 's1/class/7a', students(1)[0])
  secondTab.destroy()
  const live = server.app.hocuspocus.documents.get('s1/class/7a')!
  await until(() => live.getConnections().length === 4, { what: 'the second tab to close' })
  reportActivity(u2.doc, 'u2', 'active')
  await mapEquals(teacher.doc, 'stats', { active: 3, idle: 0, away: 0, participation: 75, handsRaised: 1 })
  assert.is((teacher.doc.getMap('activity').get('u1') as Record<string, unknown>).state, 'active')
  u1.destroy()
  await mapEquals(teacher.doc, 'stats', { active: 2, idle: 0, away: 1, participation: 50, handsRaised: 1 })
  const entry = teacher.doc.getMap('activity').get('u1') as Record<string, unknown>
  assert.is(entry.state, 'away')
  assert.is(entry.page, '/lesson/3', 'the rest of the entry is kept')
})

test('a report that changes no figure writes nothing', async () => {
  const teacher = await open(server, 's1/class/quiet', classTeacher())
  const u1 = await open(server, 's1/class/quiet', student('u1', { classes: ['quiet'] }))
  reportActivity(u1.doc, 'u1', 'active')
  await mapEquals(teacher.doc, 'stats', { active: 1, idle: 0, away: 0, participation: 100, handsRaised: 0 })
  const before = await serverWrites('s1/class/quiet')
  reportActivity(u1.doc, 'u1', 'active', { page: '/p2' })
  reportActivity(u1.doc, 'u1', 'idle')
  await mapEquals(teacher.doc, 'stats', { active: 0, idle: 1, away: 0, participation: 0, handsRaised: 0 })
  assert.is(await serverWrites('s1/class/quiet'), before + 1, 'one write, for the change that moved a figure')
})

test('students write only their own entry, and only in their classes', async () => {
  const u1 = await open(server, 's1/class/7a', students(1)[0])
  u1.doc.getMap('activity').set('u2', { state: 'away', at: Date.now() })
  assert.match(await within(u1.closed, DEADLINE_MS, 'refusal'), /^forbidden-write: activity\/u2/)
  const stranger = connect(server.url, 's1/class/7a', await mintToken(student('u9', { classes: ['8b'] })))
  assert.match(await within(stranger.refused, DEADLINE_MS, 'refusal to open'), /^forbidden/)
  const u2 = await open(server, 's1/class/7a', students(2)[1])
  u2.doc.getMap('stats').set('active', 99)
  assert.match(await within(u2.closed, DEADLINE_MS, 'refusal'), /^forbidden-write: stats/)
})

test('students not back after a crash and restart turn away by themselves', async () => {
  const dataDir = tempDir()
  // The crash is a real one (a child process killed); the restart runs here on a hand-driven
  // clock, so the reconnect grace after the load passes when the test says.
  const first = await startServerProcess(dataDir)
  const clock = new ManualClock()
  let second: TestServer | undefined
  try {
    const u1 = connect(first.url, 's1/class/7a', await mintToken(students(1)[0]))
    await within(u1.synced, DEADLINE_MS, 'sync')
    reportActivity(u1.doc, 'u1', 'active')
    await u1.acknowledged()
    first.child.kill('SIGKILL')
    await first.exited
    u1.destroy()

    second = await startServer({}, { dataDir, clock })
    const teacher = connect(second.url, 's1/class/7a', await mintToken(classTeacher()))
    await within(teacher.synced, DEADLINE_MS, 'sync after restart')
    const u1State = () => (teacher.doc.getMap('activity').get('u1') as Record<string, unknown>).state
    assert.is(u1State(), 'active', 'as stored before the crash')
    await until(() => clock.waiting > 0, { what: 'the away sweep to be armed' })
    // Just before the grace ends nobody is swept yet; once it has passed, u1 turns away.
    await clock.advance(RECONNECT_GRACE_MS - 1)
    await mapEquals(teacher.doc, 'stats', { active: 1, idle: 0, away: 0, participation: 100, handsRaised: 0 })
    assert.is(u1State(), 'active', 'not away before the grace has passed')
    await clock.advance(1)
    await until(() => u1State() === 'away', { what: 'u1 to turn away' })
    await mapEquals(teacher.doc, 'stats', { active: 0, idle: 0, away: 1, participation: 0, handsRaised: 0 })
  } finally {
    first.child.kill('SIGKILL')
    await second?.stop()
    rmSync(dataDir, { recursive: true, force: true })
  }
})

test.run()
