// Leaderboards by period and specialty: scores posted with their time and specialty; the board's
// weekly, monthly and all-time views and its specialty views are derived by the server; the
// weekly view starts empty on Monday 00:00 in SCHOOL_TIMEZONE (Europe/Berlin here), the monthly one
// on the 1st, as a ManualClock crosses the boundaries.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { useServer } from './helpers/server.ts'
import { closeClients, open, until } from './helpers/clients.ts'
import { claims, mintToken, student, teacher } from './helpers/tokens.ts'
import { api, assertError } from './helpers/api.ts'
import { putRoster } from './helpers/safety.ts'
import { ManualClock } from './helpers/clock.ts'
import { nextPeriodStart, periodStart } from '../docs-model/surfaces/leaderboard/state.ts'

const SERVICE_TOKEN = 'service-token-0123456789abcdef'
const ZONE = 'Europe/Berlin'
/** Friday 27 November 2026, 13:00 in Berlin. */
const clock = new ManualClock(Date.parse('2026-11-27T12:00:00Z'))
const server = useServer({ SERVICE_TOKEN, SCHOOL_TIMEZONE: ZONE }, { clock })
test.before(() =>
  putRoster(server, 's1', [
    { id: 'u1', name: 'Ana', role: 'student' },
    { id: 'u2', name: 'Ben', role: 'student' },
  ]),
)
test.after.each(closeClients)

const post = (json: unknown, token = SERVICE_TOKEN) => api(server, 'POST', '/api/v1/schools/s1/leaderboards/term/scores', { token, json })

test('period starts in the school time zone, across daylight saving too', () => {
  const friday = Date.parse('2026-11-27T12:00:00Z')
  assert.is(new Date(periodStart('weekly', friday, ZONE)).toISOString(), '2026-11-22T23:00:00.000Z', 'Monday 23 November, 00:00 in Berlin')
  assert.is(new Date(periodStart('monthly', friday, ZONE)).toISOString(), '2026-10-31T23:00:00.000Z')
  assert.is(new Date(nextPeriodStart(friday, ZONE)).toISOString(), '2026-11-29T23:00:00.000Z')
  assert.is(new Date(nextPeriodStart(Date.parse('2026-11-30T12:00:00Z'), ZONE)).toISOString(), '2026-11-30T23:00:00.000Z', 'the month begins before the next week')
  // Summer time began on Sunday 29 March 2026: that Monday starts at 22:00 UTC, the one before at 23:00.
  assert.is(new Date(periodStart('weekly', Date.parse('2026-04-01T12:00:00Z'), ZONE)).toISOString(), '2026-03-29T22:00:00.000Z')
  assert.is(new Date(periodStart('weekly', Date.parse('2026-03-28T12:00:00Z'), ZONE)).toISOString(), '2026-03-22T23:00:00.000Z')
  assert.is(periodStart('weekly', Date.parse('2026-11-27T12:00:00Z'), 'UTC'), Date.parse('2026-11-23T00:00:00Z'))
})

test('weekly, monthly, all-time and specialty views, reset on the week and month boundaries', async () => {
  const board = await open(server, 's1/leaderboard/term', student('u1'))
  const view = (period: string) => (board.doc.getMap('periods').get(period) as { entries: Record<string, { score: number; rank: number }> } | undefined)?.entries
  const scores = (period: string) => Object.fromEntries(Object.entries(view(period) ?? {}).map(([u, e]) => [u, e.score]))

  const lastWeek = Date.parse('2026-11-20T09:00:00Z')
  const sent = await post({ id: 'w47', scores: [{ user: 'u1', score: 10 }, { user: 'u2', score: 5, specialty: 'math' }] })
  assert.is(sent.status, 200)
  assert.is((await post({ id: 'old', scores: [{ user: 'u2', score: 7, at: new Date(lastWeek).toISOString(), specialty: 'math' }] })).status, 200)
  await until(() => scores('weekly').u1 === 10 && scores('all_time').u2 === 12, { what: 'views derived' })
  assert.equal(scores('weekly'), { u1: 10, u2: 5 }, "last week's score is not this week's")
  assert.equal(scores('monthly'), { u1: 10, u2: 12 })
  assert.equal((board.doc.getMap('entries').get('u2') as { score: number }).score, 12, 'entries stay the all-time totals')
  assert.equal(board.doc.getMap('specialties').get('math'), { u2: { name: 'Ben', score: 12, rank: 1 } })
  assert.is((board.doc.getMap('periods').get('weekly') as { from: number }).from, Date.parse('2026-11-22T23:00:00Z'))

  // Monday 30 November, 00:00 in Berlin: a new week, the same month.
  await clock.advanceTo(Date.parse('2026-11-29T23:00:00Z'))
  await until(() => Object.keys(view('weekly') ?? { x: 1 }).length === 0, { what: 'the weekly view empty on Monday' })
  assert.equal(scores('monthly'), { u1: 10, u2: 12 })
  await post({ id: 'w49', scores: [{ user: 'u2', score: 3 }] })
  await until(() => scores('weekly').u2 === 3, { what: "Monday's score" })
  assert.equal(scores('all_time'), { u1: 10, u2: 15 })

  // 1 December, 00:00 in Berlin: a new month; the week goes on.
  await clock.advanceTo(Date.parse('2026-11-30T23:00:00Z'))
  await until(() => Object.keys(view('monthly') ?? { x: 1 }).length === 0, { what: 'the monthly view empty on the 1st' })
  assert.equal(scores('weekly'), { u2: 3 })

  // Posting a batch again replaces it: no score counted twice.
  await post({ id: 'w49', scores: [{ user: 'u2', score: 4 }] })
  await until(() => scores('weekly').u2 === 4, { what: 'the batch replaced' })
  assert.is(scores('all_time').u2, 16)
})

test('who may record scores, and bad batches', async () => {
  assertError(await post({ scores: [{ user: 'u1', score: 1 }] }, await mintToken(student('u1'))), 403)
  assertError(await post({ scores: [{ user: 'u1', score: 1 }] }, await mintToken(claims.parent('p1'))), 403)
  assert.is((await post({ scores: [{ user: 'u1', score: 1 }] }, await mintToken(teacher('t1')))).status, 200)
  assertError(await post({ scores: [{ user: 'u1', score: 1 }, { user: 'u1', score: 2 }] }), 400)
  assertError(await post({ scores: [{ user: 'u1', score: 'ten' }] }), 400)
  assertError(await post({ scores: [{ user: 'u1', score: 1, at: 'yesterday' }] }), 400)
  assertError(await api(server, 'POST', '/api/v1/schools/s2/leaderboards/term/scores', { token: await mintToken(teacher('t1')), json: { scores: [{ user: 'u1', score: 1 }] } }), 403)
})

test.run()
