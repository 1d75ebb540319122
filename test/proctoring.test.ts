// Proctoring: students' events become the documented alerts in the monitor (deterministic ids,
// counts, severities), high and critical ones reach the exam's teachers and proctors once, a
// proctor acknowledges, and malformed events are ignored and counted.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { useServer } from './helpers/server.ts'
import { closeClients, connect, DEADLINE_MS, until, within, type Client } from './helpers/clients.ts'
import { claims, mintToken, student, teacher } from './helpers/tokens.ts'
import { docJson, putRoster } from './helpers/safety.ts'
import { alertsFor } from '../docs-model/surfaces/exam/state.ts'
import { reportEvent, type ExamEventDetail, type ExamEventType } from '../docs-model/surfaces/exam/surface.ts'

// The events below span ten minutes of one sitting, sent in one go: the client-time window
// (CLOCK_SKEW_S, test/clock-skew.test.ts) is widened to cover them, around now.
const server = useServer({ CLOCK_SKEW_S: '900' })
const MIN = 60_000
const T = Date.now() - 4 * MIN

test.before(async () => {
  await putRoster(server, 's1', [
    { id: 't1', name: 'Tess', role: 'teacher', classes: ['7a'] },
    { id: 't2', name: 'Theo', role: 'teacher', classes: ['7b'] },
    { id: 'pr1', name: 'Pim', role: 'proctor', classes: ['7a'] },
    { id: 'pr2', name: 'Pia', role: 'proctor' },
    { id: 'u1', name: 'Uma', role: 'student', classes: ['7a'] },
    { id: 'u2', name: 'Ugo', role: 'student', classes: ['7a'] },
    { id: 'u3', name: 'Ulla', role: 'student', classes: ['7a'] },
  ])
})
test.after.each(closeClients)

test('the severity rules', () => {
  const tab = (minutes: number[]) => alertsFor('u1', minutes.map((m) => ({ type: 'tab_switch', at: T + m * MIN }))).alerts.get('u1:tab_switch')
  assert.equal(tab([0]), { user: 'u1', type: 'tab_switch', severity: 'low', at: T, count: 1 })
  assert.is(tab([0, 1, 6.5, 7])!.severity, 'low')
  assert.is(tab([0, 1, 6.5, 7, 7.5])!.severity, 'high')
  assert.is(tab([0, 2, 5])!.severity, 'high')
  const face = (detail: unknown) => alertsFor('u1', [{ type: 'face_missing', at: T, detail }]).alerts.get('u1:face_missing')!.severity
  assert.is(face({ durationSec: 10 }), 'low')
  assert.is(face({ durationSec: 10.5 }), 'high')
  assert.is(face(undefined), 'medium')
  const one = (type: string) => alertsFor('u1', [{ type, at: new Date(T).toISOString() }]).alerts.get(`u1:${type}`)?.severity
  assert.is(one('multiple_faces'), 'critical')
  assert.is(one('copy_paste'), 'medium')
  assert.is(one('fullscreen_exit'), 'low')
  const bad = alertsFor('u1', [{ type: 'sneeze', at: T }, { type: 'tab_switch', at: 'never' }, null, 'x', { type: 'copy_paste', at: Number.NaN }])
  assert.is(bad.ignored, 5)
  assert.is(bad.alerts.size, 0)
})

async function sitting(user: string): Promise<Client> {
  const client = connect(server.url, `s1/exam/e2/student/${user}`, await mintToken(student(user)))
  await within(client.synced, DEADLINE_MS, `sync of ${user}`)
  return client
}

const emit = (client: Client, type: ExamEventType, at: number, detail?: ExamEventDetail): void => reportEvent(client.doc, type, at, detail)

const items = async (user: string): Promise<Record<string, any>> => (await docJson(server, `s1/inbox/${user}`)).items

test('events become alerts in the monitor; high and critical ones reach the exam staff once', async () => {
  const exam = connect(server.url, 's1/exam/e2', await mintToken(teacher('t1')))
  await within(exam.synced, DEADLINE_MS, 'exam sync')
  exam.doc.transact(() => {
    const meta = exam.doc.getMap('meta')
    meta.set('title', 'Biology quiz')
    meta.set('class', '7a')
    meta.set('startsAt', Date.now() - 1000)
    meta.set('durationSec', 600)
  })
  await exam.acknowledged()
  await until(() => exam.doc.getMap('meta').get('status') === 'open', { what: 'exam open' })

  const monitor = connect(server.url, 's1/exam/e2/monitor', await mintToken(claims.proctor('pr1')))
  await within(monitor.synced, DEADLINE_MS, 'monitor sync')
  const alert = (id: string) => monitor.doc.getMap('alerts').get(id) as any

  const [u1, u2, u3] = await Promise.all(['u1', 'u2', 'u3'].map(sitting))
  emit(u1, 'tab_switch', T)
  emit(u1, 'tab_switch', T + 1 * MIN)
  await until(() => alert('u1:tab_switch')?.count === 2, { what: 'two tab switches' })
  assert.is(alert('u1:tab_switch').severity, 'low')
  emit(u1, 'tab_switch', T + 6.5 * MIN)
  emit(u1, 'tab_switch', T + 7 * MIN)
  await until(() => alert('u1:tab_switch')?.count === 4, { what: 'four tab switches' })
  assert.is(alert('u1:tab_switch').severity, 'low', 'never three within five minutes yet')
  emit(u1, 'tab_switch', T + 7.5 * MIN)
  await until(() => alert('u1:tab_switch')?.severity === 'high', { what: 'three within five minutes' })
  assert.equal(alert('u1:tab_switch'), { user: 'u1', type: 'tab_switch', severity: 'high', at: T + 7.5 * MIN, count: 5 })

  emit(u2, 'multiple_faces', T + 2 * MIN, { faces: 2 })
  emit(u3, 'face_missing', T, { durationSec: 4 })
  emit(u3, 'copy_paste', T + MIN)
  emit(u3, 'fullscreen_exit', T + 2 * MIN)
  await until(() => alert('u3:fullscreen_exit') !== undefined && alert('u2:multiple_faces') !== undefined, { what: 'more alerts' })
  assert.is(alert('u2:multiple_faces').severity, 'critical')
  assert.is(alert('u3:face_missing').severity, 'low')
  assert.is(alert('u3:copy_paste').severity, 'medium')
  assert.is(alert('u3:fullscreen_exit').severity, 'low')
  emit(u3, 'face_missing', T + 3 * MIN, { durationSec: 15 })
  await until(() => alert('u3:face_missing')?.severity === 'high', { what: 'face missing for 15 s' })
  assert.is(alert('u3:face_missing').count, 2)

  // The exam's class staff (t1, pr1) get one item per high or critical alert; others nothing.
  const expected = ['exam:e2:alert:u1:tab_switch:high', 'exam:e2:alert:u2:multiple_faces:critical', 'exam:e2:alert:u3:face_missing:high']
  for (const user of ['t1', 'pr1']) {
    await until(async () => Object.keys(await items(user)).length === 3, { what: `three items for ${user}` })
    assert.equal(Object.keys(await items(user)).sort(), expected)
    assert.is((await items(user))['exam:e2:alert:u2:multiple_faces:critical'].priority, 'urgent')
    assert.is((await items(user))['exam:e2:alert:u1:tab_switch:high'].priority, 'high')
  }
  assert.equal(await items('t2'), {})
  assert.equal(await items('pr2'), {})

  // Repeats raise the count, not the number of inbox items.
  emit(u1, 'tab_switch', T + 8 * MIN)
  emit(u2, 'multiple_faces', T + 9 * MIN)
  await until(() => alert('u1:tab_switch')?.count === 6 && alert('u2:multiple_faces')?.count === 2, { what: 'repeats counted' })
  assert.is(Object.keys(await items('t1')).length, 3)

  // A proctor acknowledges.
  monitor.doc.getMap('acks').set('u2:multiple_faces', { by: 'pr1', at: Date.now() })
  await monitor.acknowledged()
  assert.is((await docJson(server, 's1/exam/e2/monitor')).acks['u2:multiple_faces'].by, 'pr1')
})

test('malformed events that got past the guard are ignored and counted', async () => {
  const count = async () =>
    (await server.app.metrics.registry.getSingleMetric('homeroom_observer_ignored_total')?.get())?.values
      .filter((v) => v.labels.surface === 'exam/student')
      .reduce((sum, v) => sum + v.value, 0) ?? 0
  const before = await count()
  const direct = await server.app.hocuspocus.openDirectConnection('s1/exam/e2/student/u9', {})
  await direct.transact((doc) => doc.getArray('events').push([{ type: 'sneeze', at: T }, { type: 'tab_switch', at: 'never' }, 42]))
  await direct.transact((doc) => doc.getArray('events').push([{ type: 'copy_paste', at: T }]))
  await direct.disconnect()
  await until(async () => (await count()) === before + 3, { what: 'three ignored events' })
  await until(async () => (await docJson(server, 's1/exam/e2/monitor')).alerts['u9:copy_paste'] !== undefined, { what: 'the valid event still counts' })
  assert.is((await docJson(server, 's1/exam/e2/monitor')).alerts['u9:sneeze'], undefined)
})

test.run()
