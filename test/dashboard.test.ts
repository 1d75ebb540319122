// Dashboards fed over HTTP and watched live, leaderboards ranked from recorded scores, and the
// system status the server refreshes for admins.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { useServer } from './helpers/server.ts'
import { closeClients, DEADLINE_MS, open, until, within } from './helpers/clients.ts'
import { admin, mintToken, student, teacher } from './helpers/tokens.ts'
import { mapEquals } from './helpers/classroom.ts'
import { api, assertError } from './helpers/api.ts'
import { recordScores } from '../extensions/observers/leaderboard.ts'
import { ManualClock } from './helpers/clock.ts'

const SERVICE_TOKEN = 'service-token-0123456789abcdef'
// The system status refreshes on the server's clock: the test moves it instead of waiting 5 s.
const clock = new ManualClock()
const server = useServer({ SERVICE_TOKEN }, { clock })
test.after.each(closeClients)

const patch = (token: string, json: unknown, path = 's1/attendance') => api(server, 'PATCH', `/api/v1/dashboards/${path}`, { token, json })
const journal = async (name: string) => (await server.app.store.entriesAfter(name, 0)).length

test('a PATCH is merged key by key into data and reaches live readers at once', async () => {
  const watcher = await open(server, 's1/dashboard/attendance', teacher())
  const first = await patch(SERVICE_TOKEN, { present: 412, absent: 9, byClass: { '7a': 28 } })
  assert.is(first.status, 200)
  assert.equal(first.json.changed.sort(), ['absent', 'byClass', 'present'])
  await mapEquals(watcher.doc, 'data', { present: 412, absent: 9, byClass: { '7a': 28 } })

  await patch(await mintToken(admin()), { absent: 10, late: 3 })
  await mapEquals(watcher.doc, 'data', { present: 412, absent: 10, byClass: { '7a': 28 }, late: 3 })
  await patch(SERVICE_TOKEN, { late: null })
  await mapEquals(watcher.doc, 'data', { present: 412, absent: 10, byClass: { '7a': 28 } })

  const before = await journal('s1/dashboard/attendance')
  const same = await patch(SERVICE_TOKEN, { present: 412 })
  assert.equal(same.json.changed, [])
  assert.is(await journal('s1/dashboard/attendance'), before, 'an unchanged value writes nothing')
})

test('teachers read dashboards but cannot write them', async () => {
  const writer = await open(server, 's1/dashboard/grades', teacher())
  assert.is(writer.provider.authorizedScope, 'readonly')
  writer.doc.getMap('data').set('mean', 6)
  assert.is(await within(writer.closed, DEADLINE_MS, 'the refusal'), 'forbidden-write: data/mean')
  const watcher = await open(server, 's1/dashboard/grades', teacher('t2'))
  await patch(SERVICE_TOKEN, { median: 7 }, 's1/grades')
  await until(() => watcher.doc.getMap('data').get('median') === 7, { what: 'the service write' })
  const stored = await api(server, 'GET', '/api/v1/docs/s1/dashboard/grades', { token: SERVICE_TOKEN })
  assert.equal(stored.json.data, { median: 7 }, 'the teacher\'s change never reached the server')
})

test('dashboard PATCH answers bad input with the contract error shape', async () => {
  assertError(await patch('', { a: 1 }), 401, 'unauthenticated')
  assertError(await patch(await mintToken(teacher()), { a: 1 }), 403, 'forbidden')
  assertError(await patch(await mintToken(admin('a2', { schools: ['s2'] })), { a: 1 }), 403, 'forbidden')
  assertError(await patch(SERVICE_TOKEN, [1, 2]), 400, 'bad-request')
  assertError(await patch(SERVICE_TOKEN, 'null'), 400, 'bad-request')
  assertError(await patch(SERVICE_TOKEN, '{broken'), 400, 'bad-request')
  assertError(await patch(SERVICE_TOKEN, { a: 1 }, 's1/bad%20name'), 400, 'bad-request')
  assertError(await patch(SERVICE_TOKEN, { blob: 'x'.repeat(1100 * 1024) }), 413, 'too-large')
  assertError(await api(server, 'GET', '/api/v1/dashboards/s1/attendance', { token: SERVICE_TOKEN }), 405, 'method-not-allowed')
})

test('leaderboards sum each source\'s scores and rank them deterministically', async () => {
  const reader = await open(server, 's1/leaderboard/term', student('u1'))
  await recordScores(server.app.hocuspocus, 's1', 'term', { u1: { name: 'Ana', score: 2 }, u2: { name: 'Ben', score: 3 } }, 'quiz-1')
  await recordScores(server.app.hocuspocus, 's1', 'term', { u1: { name: 'Ana', score: 1 }, u3: { name: 'Cat', score: 1 } }, 'quiz-2')
  await mapEquals(reader.doc, 'entries', {
    u1: { name: 'Ana', score: 3, rank: 1 },
    u2: { name: 'Ben', score: 3, rank: 1 },
    u3: { name: 'Cat', score: 1, rank: 3 },
  })
  const before = await journal('s1/leaderboard/term')
  await recordScores(server.app.hocuspocus, 's1', 'term', { u1: { name: 'Ana', score: 1 }, u3: { name: 'Cat', score: 1 } }, 'quiz-2')
  assert.is(await journal('s1/leaderboard/term'), before, 'recording the same scores again writes nothing')
  await recordScores(server.app.hocuspocus, 's1', 'term', { u3: { name: 'Cat', score: 5 } }, 'quiz-2')
  await mapEquals(reader.doc, 'entries', {
    u3: { name: 'Cat', score: 5, rank: 1 },
    u2: { name: 'Ben', score: 3, rank: 2 },
    u1: { name: 'Ana', score: 2, rank: 3 },
  })
})

test('system status shows live figures to admins while they watch', async () => {
  const watcher = await open(server, 's1/system/status', admin())
  const now = watcher.doc.getMap('now')
  await until(() => typeof now.get('at') === 'number', { what: 'first figures' })
  assert.is(now.get('instances'), 1)
  assert.type(now.get('messagesPerSec'), 'number')
  const connections = now.get('connections') as number
  assert.ok(connections >= 1)
  await open(server, 's1/doc/extra', teacher())
  await until(async () => {
    await clock.advance(5000)
    return (now.get('connections') as number) > connections
  }, { what: 'the new connection counted at a refresh' })
  assert.ok((now.get('documents') as number) >= 2)
})

test.run()
