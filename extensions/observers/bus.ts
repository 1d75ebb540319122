// Buses: every fix a driver writes to `position/now` is appended to the trail table (not the
// document, which stays tiny) and turned into alerts: speeding over the route's limit, off route
// (farther than OFF_ROUTE_M from the polyline through the stops), arrived within a stop's radius
// (once per visit; riders' parents are told), and stale (no fix for BUS_STALE_AFTER_S).
// Speeding and off-route are episodes: one alert when it starts, completed with `endedAt` when it
// ends. Alert ids come from the fix times, so every instance derives the same ones, and the open
// episodes are recovered from the alerts after a restart.
import type * as Y from 'yjs'
import type { Homeroom } from '../../server/homeroom.ts'
import { mapOf } from '../../docs-model/common.ts'
import { busTrailKey, type BusAlert, type BusStop, type Fix } from '../../docs-model/surfaces/bus/surface.ts'
import { advance, atLastStop, parseFix, recoverTrip, routeOf, type Trip } from '../../docs-model/surfaces/bus/state.ts'
import type { DocRef } from '../../docs-model/types.ts'
import { contain, Deadlines, derive, documentsUnder, ignoredCounter, notify, sameJson, Serial } from './runtime.ts'
import type { Observer } from './registry.ts'
import { sourceOf } from '../../server/origin.ts'

export class BusObserver implements Observer {
  readonly name = 'bus-observer'
  readonly surfaces = ['bus']
  private readonly app: Homeroom
  private readonly serial = new Serial()
  private readonly staleTimers: Deadlines
  private readonly trips = new Map<string, Trip>()
  /** The last fix processed per bus document, to skip a fix seen twice. */
  private readonly last = new Map<string, Fix>()

  constructor(app: Homeroom) {
    this.app = app
    this.staleTimers = new Deadlines(app.clock)
  }

  start(): void {
    void contain(this.app, 'bus.scan', async () => {
      const { store, hocuspocus } = this.app
      const buses = await documentsUnder(store, hocuspocus.documents.keys(), { family: 'bus' }, (ref) => ref.surface === 'bus')
      for (const ref of buses) {
        const doc = await this.app.peek(ref.name)
        const fix = parseFix(mapOf(doc, 'position').get('now'))
        if (fix && !mapOf(doc, 'alerts').has(`stale:${fix.at}`) && !atLastStop(recoverTrip(doc, routeOf(doc)), routeOf(doc))) this.armStale(ref, fix, fix.at)
      }
    })
  }

  /** Watches `position` with a Yjs observer: it runs inside each transaction, so no fix is skipped. */
  loaded(ref: DocRef, doc: Y.Doc): void {
    const position = mapOf(doc, 'position')
    position.observe((event) => {
      if (!event.keysChanged.has('now')) return
      const value = position.get('now')
      const peer = sourceOf(event.transaction.origin) === 'peer'
      void this.serial.run(ref.name, () => contain(this.app, 'bus.fix', () => this.onFix(ref, value, peer)))
    })
  }

  /** The trip is recovered from the alerts when the bus reports again; the stale timer stays armed. */
  unloaded(ref: DocRef): void {
    this.trips.delete(ref.name)
    this.last.delete(ref.name)
  }

  stop(): void {
    this.staleTimers.stop()
  }

  private async onFix(ref: DocRef, value: unknown, peer: boolean): Promise<void> {
    const fix = parseFix(value)
    if (!fix) {
      ignoredCounter(this.app.metrics).inc({ surface: 'bus', reason: 'bad-fix' })
      return
    }
    this.armStale(ref, fix, this.app.clock.now())
    // The instance whose client sent the fix records it; peers only keep their stale timer fresh.
    if (peer) return
    const previous = this.last.get(ref.name)
    if (previous && sameJson(previous, fix)) return
    this.last.set(ref.name, fix)
    await this.app.store.appendTrail(busTrailKey(ref.school, ref.params.bus), fix)

    const doc = await this.app.peek(ref.name)
    const route = routeOf(doc)
    const trip = this.trips.get(ref.name) ?? recoverTrip(doc, route)
    this.trips.set(ref.name, trip)
    const { writes, arrived } = advance(trip, route, fix)
    if (writes.length > 0) {
      await derive(this.app, this.name, ref.name, (d) => {
        const alerts = mapOf(d, 'alerts')
        for (const [id, alert] of writes) if (!sameJson(alerts.get(id), alert)) alerts.set(id, alert)
      })
      // An episode's end rewrites its alert under the same id: the event is its start.
      for (const [id, alert] of writes) this.publish(ref, id, alert)
    }
    if (arrived) await this.tellParents(ref, arrived.id, arrived.stop, fix.at)
  }

  /** The parents of a stop's riders get one inbox item per arrival. */
  private async tellParents(ref: DocRef, alertId: string, stop: BusStop, at: number): Promise<void> {
    const riders = new Set(stop.riders ?? [])
    if (riders.size === 0) return
    if (!(await this.app.store.claim(`bus:${ref.name}:${alertId}`))) return
    const parents = (await this.app.directory.members(ref.school)).filter((m) => m.role === 'parent' && (m.children ?? []).some((c) => riders.has(c))).map((m) => m.id)
    const bus = ref.params.bus
    await notify(this.app, ref.school, parents, `bus:${bus}:${alertId}`, {
      type: 'bus-arrival',
      title: `Bus ${bus} arrived at ${stop.name}`.slice(0, 200),
      body: `Bus ${bus} reached ${stop.name} at ${new Date(at).toISOString()}.`,
      priority: 'normal',
      at,
      data: { bus: ref.name, stop: stop.id, alert: alertId },
    })
  }

  /** `bus.<type>` out, once per alert id. */
  private publish(ref: DocRef, id: string, alert: BusAlert): void {
    this.app.eventsOut.publish({ type: `bus.${alert.type}`, id: `bus.${alert.type}:${ref.name}:${id}`, school: ref.school, at: alert.at, data: { bus: ref.name, alert: id, ...alert } })
  }

  /** A stale alert `BUS_STALE_AFTER_S` after this fix unless another arrives first. */
  private armStale(ref: DocRef, fix: Fix, receivedAt: number): void {
    const afterS = this.app.config.bus.staleAfterS
    this.staleTimers.set(ref.name, receivedAt + afterS * 1000, () => {
      void this.serial.run(ref.name, () =>
        contain(this.app, 'bus.stale', async () => {
          const doc = await this.app.peek(ref.name)
          const route = routeOf(doc)
          if (atLastStop(this.trips.get(ref.name) ?? recoverTrip(doc, route), route)) return
          const id = `stale:${fix.at}`
          await derive(this.app, this.name, ref.name, (d) => {
            const alerts = mapOf(d, 'alerts')
            if (!alerts.has(id)) alerts.set(id, { type: 'stale', at: this.app.clock.now(), detail: { lastFixAt: fix.at, afterS } } satisfies BusAlert)
          })
          this.publish(ref, id, mapOf(await this.app.peek(ref.name), 'alerts').get(id) as BusAlert)
        }),
      )
    })
  }
}
