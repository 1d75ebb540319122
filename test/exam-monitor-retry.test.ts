// A monitor write that fails (the monitor cannot be loaded while the store is away) is written
// again once the store answers: a student arriving or leaving, and a proctoring event, is heard
// of once, so an entry lost to a passing outage would stay wrong (the chaos run found students
// left `online: true`, and an alert's count behind its events).
import { join } from 'node:path'
import { test } from 'uvu'
import { closeClients, connect, DEADLINE_MS, until, within } from './helpers/clients.ts'
import { openExam } from './helpers/classroom.ts'
import { FaultyStore } from './helpers/faulty-store.ts'
import { docJson } from './helpers/safety.ts'
import { useServer } from './helpers/server.ts'
import { mintToken, student } from './helpers/tokens.ts'
import { reportEvent } from '../docs-model/surfaces/exam/surface.ts'

const MONITOR = 's1/exam/e1/monitor'
let store: FaultyStore
const server = useServer({}, (dataDir) => ({ store: (store = new FaultyStore(join(dataDir, 'homeroom.db'))) }))
test.after.each(closeClients)

const monitorErrors = async () => (await server.app.metrics.observerErrors.get()).values.find((v) => v.labels.where === 'exam.monitor')?.value ?? 0
const alertErrors = async () => (await server.app.metrics.observerErrors.get()).values.find((v) => v.labels.where === 'proctoring.write')?.value ?? 0
const online = async (user: string) => ((await docJson(server, MONITOR)).students?.[user] as { online?: boolean } | undefined)?.online

test('a student arriving and leaving while the monitor cannot be loaded is written once it can', async () => {
  await openExam(server.url, 's1/exam/e1')

  store.failLoadsOf = MONITOR
  const sheet = connect(server.url, 's1/exam/e1/student/u1', await mintToken(student('u1')))
  await within(sheet.synced, DEADLINE_MS, 'sheet sync')
  await until(async () => (await monitorErrors()) > 0, { what: 'the failed monitor write to be counted' })
  store.heal()
  await until(async () => (await online('u1')) === true, { what: 'u1 online once the monitor loads' })

  const failed = await monitorErrors()
  store.failLoadsOf = MONITOR
  sheet.destroy()
  await until(async () => (await monitorErrors()) > failed, { what: 'the failed write of the leaving to be counted' })
  store.heal()
  await until(async () => (await online('u1')) === false, { what: 'u1 offline once the monitor loads' })
})

test('a proctoring event while the monitor cannot be loaded becomes an alert once it can', async () => {
  const sheet = connect(server.url, 's1/exam/e1/student/u2', await mintToken(student('u2')))
  await within(sheet.synced, DEADLINE_MS, 'sheet sync')
  await until(async () => (await online('u2')) === true, { what: 'u2 online' })
  const failed = await alertErrors()
  store.failLoadsOf = MONITOR
  reportEvent(sheet.doc, 'tab_switch', Date.now())
  await sheet.acknowledged()
  await until(async () => (await alertErrors()) > failed, { what: 'the failed alert write to be counted' })
  store.heal()
  await until(async () => ((await docJson(server, MONITOR)).alerts?.['u2:tab_switch'] as { count?: number } | undefined)?.count === 1, { what: 'the alert once the monitor loads' })
})

test.run()
