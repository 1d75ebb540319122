// Buses: a trip replayed from a recorded route gives exactly the expected alerts, the trail is
// stored and served to the bus's readers only, stale buses are flagged, bad fixes are ignored and
// counted, and 100,000 fixes leave the document tiny.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import * as Y from 'yjs'
import { join } from 'node:path'
import { rmSync } from 'node:fs'
import { startServer, tempDir, useServer } from './helpers/server.ts'
import { ManualClock } from './helpers/clock.ts'
import { closeClients, connect, DEADLINE_MS, until, within } from './helpers/clients.ts'
import { admin, claims, mintToken } from './helpers/tokens.ts'
import { api } from './helpers/api.ts'
import { docJson, putRoster, stateBytes } from './helpers/safety.ts'
import { reportPosition, type BusFix } from '../docs-model/surfaces/bus/surface.ts'
import { advance, distanceToPolylineM, OFF_ROUTE_M, type Trip } from '../docs-model/surfaces/bus/state.ts'
import type { Claims } from '../server/identity.ts'
import { SqliteStore } from '../server/store/sqlite.ts'
import type { TrailPoint } from '../server/store/types.ts'

const driver = (bus: string): Claims => ({ sub: `drv-${bus}`, role: 'driver', schools: ['s1'], buses: [bus] })
const LNG = 13.4
/** Metres per degree of latitude; of longitude at 52.5° it is about 67,690. */

const route = {
  speedLimitKmh: 50,
  stops: [
    { id: 'A', name: 'Depot', lat: 52.5, lng: LNG, radiusM: 40 },
    { id: 'B', name: 'Maple Street', lat: 52.509, lng: LNG, radiusM: 40, riders: ['kid1', 'kid2'] },
    { id: 'C', name: 'School', lat: 52.518, lng: LNG, radiusM: 40 },
  ],
}

/**
 * A recorded trip A → B → C, one fix every 5 s: jitter at A, a burst of speeding, a wobble at
 * the edge of B's radius (still one visit), a 400 m detour (off route) and a 200 m one (not).
 */
function recordedTrip(t0: number): BusFix[] {
  const fixes: Array<[number, number, number]> = [
    [52.5, LNG, 0], [52.50005, LNG, 0], [52.4999, LNG, 0],
  ]
  for (let lat = 52.5005; lat < 52.5086; lat += 0.0005) fixes.push([lat, LNG, 40])
  fixes[8][2] = 62
  fixes[9][2] = 65
  fixes[10][2] = 58
  fixes.push([52.509, LNG, 10], [52.50945, LNG, 5], [52.50902, LNG, 0], [52.51, LNG, 30])
  fixes.push([52.5105, LNG + 0.003, 30], [52.511, LNG + 0.006, 30], [52.512, LNG + 0.006, 30], [52.513, LNG + 0.006, 30], [52.514, LNG, 30])
  for (let lat = 52.5145; lat < 52.5176; lat += 0.0005) fixes.push([lat, LNG, 35])
  fixes.push([52.518, LNG, 5], [52.51801, LNG, 0])
  return fixes.map(([lat, lng, speed], i) => ({ lat, lng, speed, heading: 0, at: t0 + i * 5000 }))
}

// Stale deadlines fire when a test advances this clock, not after real seconds.
const clock = new ManualClock()
// Recorded trips are replayed in one go, their fixes dated over the past hour and the next half
// hour: the widest window client times may have (CLOCK_SKEW_S, test/clock-skew.test.ts).
const server = useServer({ BUS_STALE_AFTER_S: '5', MAX_MESSAGES_PER_SEC: '100000', CLOCK_SKEW_S: '86400' }, { clock })
test.before(async () => {
  await putRoster(server, 's1', [
    { id: 'par1', name: 'Pat', role: 'parent', children: ['kid1'] },
    { id: 'par2', name: 'Sam', role: 'parent', children: ['kid2', 'kid9'] },
    { id: 'par3', name: 'Alex', role: 'parent', children: ['kid3'] },
  ])
})
test.after.each(closeClients)

test('the recorded trip replayed offline gives the expected alerts (pure function)', () => {
  const t0 = Date.parse('2026-09-01T07:00:00Z')
  const trip: Trip = {}
  const alerts = new Map<string, any>()
  for (const fix of recordedTrip(t0)) for (const [id, alert] of advance(trip, route, { ...fix, at: Number(fix.at) }).writes) alerts.set(id, alert)
  assert.equal([...alerts.keys()].map((id) => id.split(':').slice(0, 2).join(':')).sort(), ['arrived:A', 'arrived:B', 'arrived:C', 'off_route:' + (t0 + 25 * 5000), 'speeding:' + (t0 + 8 * 5000)].sort())
  assert.ok(distanceToPolylineM({ lat: 52.511, lng: LNG + 0.006 }, route.stops) > OFF_ROUTE_M)
  assert.ok(distanceToPolylineM({ lat: 52.5105, lng: LNG + 0.003 }, route.stops) < OFF_ROUTE_M)
})

test('a trip through the server: exactly the expected alerts, parents told once, trail stored', async () => {
  const adminClient = connect(server.url, 's1/bus/b1', await mintToken(admin()))
  await within(adminClient.synced, DEADLINE_MS, 'admin sync')
  adminClient.doc.transact(() => {
    const map = adminClient.doc.getMap('route')
    map.set('stops', route.stops)
    map.set('speedLimitKmh', route.speedLimitKmh)
  })
  await adminClient.acknowledged()

  const car = connect(server.url, 's1/bus/b1', await mintToken(driver('b1')))
  await within(car.synced, DEADLINE_MS, 'driver sync')
  const t0 = Date.now() - 3600_000
  const trip = recordedTrip(t0)
  for (const fix of trip) reportPosition(car.doc, fix)
  await car.acknowledged()

  const last = trip.at(-1)!.at as number
  await until(async () => (await server.app.store.trail('s1/b1', 0)).length === trip.length, { what: 'every fix in the trail' })
  await until(async () => Object.keys((await docJson(server, 's1/bus/b1')).alerts).some((id) => id.startsWith('arrived:C:')), { what: 'arrival at C' })
  const alerts = (await docJson(server, 's1/bus/b1')).alerts as Record<string, any>
  const at = (i: number) => trip[i].at as number
  assert.equal(Object.keys(alerts).sort(), [`arrived:A:${at(0)}`, `arrived:B:${at(20)}`, `arrived:C:${at(trip.length - 2)}`, `off_route:${at(25)}`, `speeding:${at(8)}`].sort())
  assert.equal(alerts[`speeding:${at(8)}`], {
    type: 'speeding',
    at: at(8),
    detail: { speedKmh: 62, limitKmh: 50, lat: trip[8].lat, lng: LNG, maxKmh: 65, endedAt: at(11) },
  })
  assert.is(alerts[`off_route:${at(25)}`].detail.endedAt, at(28))
  assert.ok(alerts[`off_route:${at(25)}`].detail.distanceM > 300)
  assert.is(alerts[`arrived:B:${at(20)}`].detail.leftAt, at(23))
  assert.is(alerts[`arrived:C:${at(trip.length - 2)}`].detail.leftAt, undefined)
  assert.ok(last > t0)

  // Parents of B's riders (kid1, kid2) get one item each; a parent of another child none.
  for (const parent of ['par1', 'par2']) {
    await until(async () => Object.keys((await docJson(server, `s1/inbox/${parent}`)).items).length === 1, { what: `inbox of ${parent}` })
    const [item] = Object.values((await docJson(server, `s1/inbox/${parent}`)).items) as any[]
    assert.is(item.type, 'bus-arrival')
    assert.match(item.title, /Maple Street/)
  }
  assert.equal((await docJson(server, 's1/inbox/par3')).items, {})

  // The trail route: readers of b1 only, filtered by `since`.
  const parent = await mintToken(claims.parent('par1', { children: ['kid1'], buses: ['b1'] }))
  const all = await api(server, 'GET', `/api/v1/buses/s1/b1/trail?since=${new Date(t0).toISOString()}`, { token: parent })
  assert.is(all.status, 200)
  assert.is(all.json.length, trip.length)
  assert.equal(all.json[0], { lat: 52.5, lng: LNG, speed: 0, heading: 0, at: new Date(t0).toISOString() })
  const later = await api(server, 'GET', `/api/v1/buses/s1/b1/trail?since=${new Date(at(10)).toISOString()}`, { token: await mintToken(admin()) })
  assert.is(later.json.length, trip.length - 10)
  assert.is((await api(server, 'GET', '/api/v1/buses/s1/b1/trail', { token: await mintToken(driver('b2')) })).status, 403)
  assert.is((await api(server, 'GET', '/api/v1/buses/s1/b1/trail', { token: await mintToken(claims.student('u1')) })).status, 403)
  assert.is((await api(server, 'GET', '/api/v1/buses/s1/b1/trail?since=yesterday', { token: parent })).status, 400)
  assert.is((await api(server, 'GET', '/api/v1/buses/s1/b1/trail')).status, 401)
})

test('a bus without a fix for BUS_STALE_AFTER_S gets a stale alert', async () => {
  const car = connect(server.url, 's1/bus/b2', await mintToken(driver('b2')))
  await within(car.synced, DEADLINE_MS, 'driver sync')
  const at = clock.now()
  reportPosition(car.doc, { lat: 52.505, lng: LNG, speed: 20, heading: 0, at })
  await car.acknowledged()
  // The fix is stored after its stale timer is armed (extensions/observers/bus.ts).
  await until(async () => (await server.app.store.trail('s1/b2', 0)).length === 1, { what: 'the fix stored' })
  const stale = async () => (await docJson(server, 's1/bus/b2')).alerts[`stale:${at}`]
  await clock.advance(5000 - 1)
  assert.is(await stale(), undefined, 'not stale before BUS_STALE_AFTER_S')
  await clock.advance(1)
  await until(async () => (await stale()) !== undefined, { what: 'stale alert' })
  const alert = await stale()
  assert.is(alert.at, at + 5000, 'stale exactly BUS_STALE_AFTER_S after the fix')
  assert.equal(alert.detail, { lastFixAt: at, afterS: 5 })
})

test('malformed fixes are ignored and counted, and the server keeps serving', async () => {
  const before = await ignored()
  const direct = await server.app.hocuspocus.openDirectConnection('s1/bus/b3', {})
  await direct.transact((doc) => doc.getMap('position').set('now', { lat: Number.NaN, lng: 13, speed: 1, heading: 0, at: Date.now() }))
  await direct.transact((doc) => doc.getMap('position').set('now', { lat: 'north', at: 'never' }))
  await direct.disconnect()
  await until(async () => (await ignored()) === before + 2, { what: 'two ignored fixes' })
  assert.equal(await server.app.store.trail('s1/b3', 0), [])
  assert.is((await api(server, 'GET', '/health')).status, 200)
})

test('a stale deadline survives a restart, and a failing trail store leaves the server serving', async () => {
  class FlakyTrailStore extends SqliteStore {
    failures = 1
    override async appendTrail(bus: string, point: TrailPoint): Promise<void> {
      if (this.failures-- > 0) throw new Error('disk full (injected)')
      return super.appendTrail(bus, point)
    }
  }
  const dataDir = tempDir()
  const env = { BUS_STALE_AFTER_S: '5' }
  // One clock across the restart, as the wall clock would be.
  const clock = new ManualClock()
  let second = await startServer(env, { dataDir, clock, store: new FlakyTrailStore(join(dataDir, 'homeroom.db')) })
  const car = connect(second.url, 's1/bus/b5', await mintToken(driver('b5')))
  await within(car.synced, DEADLINE_MS, 'driver sync')
  const t0 = clock.now()
  reportPosition(car.doc, { lat: 52.5, lng: LNG, speed: 10, heading: 0, at: t0 - 1000 })
  reportPosition(car.doc, { lat: 52.5001, lng: LNG, speed: 10, heading: 0, at: t0 })
  await car.acknowledged()
  await until(async () => (await second.app.store.trail('s1/b5', 0)).length === 1, { what: 'the second fix stored' })
  const errors = (await second.app.metrics.observerErrors.get()).values.find((v) => v.labels.where === 'bus.fix')?.value
  assert.is(errors, 1)
  car.destroy()
  await second.stop()

  second = await startServer(env, { dataDir, clock })
  try {
    const stale = async () => (await docJson(second, 's1/bus/b5')).alerts[`stale:${t0}`]
    // The scan at start re-arms the deadline from the stored fix.
    await until(() => clock.waiting > 0, { what: 'the stale deadline re-armed after the restart' })
    await clock.advance(5000 - 1)
    assert.is(await stale(), undefined, 'not stale before the deadline')
    await clock.advance(1)
    await until(async () => (await stale()) !== undefined, { what: 'stale alert after restart' })
    assert.is((await stale()).at, t0 + 5000, 'stale at the deadline set before the restart')
  } finally {
    await second.stop()
    rmSync(dataDir, { recursive: true, force: true })
  }
})

async function ignored(): Promise<number> {
  const metric = await server.app.metrics.registry.getSingleMetric('homeroom_observer_ignored_total')?.get()
  return metric?.values.filter((v) => v.labels.surface === 'bus').reduce((sum, v) => sum + v.value, 0) ?? 0
}

test('100,000 fixes on one Y.Doc stay under 4 KB of state; 2,000 through the server too', async () => {
  const doc = new Y.Doc()
  doc.getMap('route').set('stops', route.stops)
  doc.getMap('route').set('speedLimitKmh', 50)
  const t0 = Date.now()
  for (let i = 0; i < 100_000; i++) reportPosition(doc, { lat: 52.5 + (i % 1000) * 1e-5, lng: LNG, speed: 30 + (i % 20), heading: i % 360, accuracy: 5, at: t0 + i * 1000 })
  const direct = Y.encodeStateAsUpdate(doc).byteLength
  assert.ok(direct < 4096, `${direct} bytes`)

  const car = connect(server.url, 's1/bus/b4', await mintToken(driver('b4')))
  await within(car.synced, DEADLINE_MS, 'driver sync')
  for (let i = 0; i < 2000; i++) reportPosition(car.doc, { lat: 52.5 + i * 1e-5, lng: LNG, speed: 30, heading: 0, accuracy: 5, at: t0 + i * 1000 })
  // 2,000 updates, each checked, journaled and observed: generous deadlines for a loaded machine.
  await car.acknowledged(60_000)
  await until(async () => (await server.app.store.trail('s1/b4', 0)).length === 2000, { timeout: 60_000, what: '2,000 fixes in the trail' })
  const served = await stateBytes(server, 's1/bus/b4')
  assert.ok(served < 4096, `${served} bytes`)
  console.log(`bus document state: ${direct} bytes after 100,000 fixes on a Y.Doc; ${served} bytes on the server after 2,000 fixes`)
})

test.run()
