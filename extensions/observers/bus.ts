// Buses: every fix a driver writes to `position/now` is appended to the trail table (not the
// document, which stays tiny) and turned into alerts: speeding over the route's limit, off route
// (farther than OFF_ROUTE_M from the polyline through the stops), arrived within a stop's radius
// (once per visit; riders' parents are told), and stale (no fix for BUS_STALE_AFTER_S).
// Speeding and off-route are episodes: one alert when it starts, completed with `endedAt` when it
// ends. Alert ids come from the fix times, so every instance derives the same ones, and the open
// episodes are recovered from the alerts after a restart.
import type { afterLoadDocumentPayload, afterUnloadDocumentPayload, Extension } from '@hocuspocus/server'
import type * as Y from 'yjs'
import type { Homeroom } from '../../server/app.ts'
import { mapOf, record, toMillis } from '../../docs-model/common.ts'
import { busFix, busStop, type BusStop } from '../../docs-model/surfaces/bus/surface.ts'
import type { DocRef } from '../../docs-model/types.ts'
import { distanceM, distanceToPolylineM } from './geo.ts'
import { contain, Deadlines, derive, documentsUnder, fromPeer, ignoredCounter, notify, refOf, sameJson, Serial } from './runtime.ts'

/** A fix farther than this from the route's polyline is off route. */
export const OFF_ROUTE_M = 300
/** A visit to a stop ends once the bus is this many radii away (so GPS jitter at the edge is one visit). */
export const LEAVE_STOP_RADII = 1.5

export interface Fix {
  lat: number
  lng: number
  /** km/h */
  speed: number
  heading: number
  at: number
}

export interface Route {
  stops: BusStop[]
  speedLimitKmh?: number
}

export interface BusAlert {
  type: 'speeding' | 'off_route' | 'arrived' | 'stale'
  at: number
  detail: Record<string, unknown>
}

interface Episode {
  id: string
  alert: BusAlert
  /** Highest speed (km/h) or distance (m) seen during the episode. */
  peak: number
}

/** What a bus is doing now, as far as alerts are concerned. */
export interface Trip {
  speeding?: Episode
  offRoute?: Episode
  visit?: { id: string; alert: BusAlert; stop: BusStop }
}

export function parseFix(value: unknown): Fix | undefined {
  const parsed = busFix.safeParse(value)
  const at = parsed.success ? toMillis(parsed.data.at) : undefined
  if (!parsed.success || at === undefined) return undefined
  const { lat, lng, speed, heading } = parsed.data
  return { lat, lng, speed, heading, at }
}

export function routeOf(doc: Y.Doc): Route {
  const route = mapOf(doc, 'route')
  const stops = Array.isArray(route.get('stops')) ? (route.get('stops') as unknown[]) : []
  const limit = route.get('speedLimitKmh')
  return {
    stops: stops.flatMap((s) => {
      const parsed = busStop.safeParse(s)
      return parsed.success ? [parsed.data] : []
    }),
    speedLimitKmh: typeof limit === 'number' && Number.isFinite(limit) && limit > 0 ? limit : undefined,
  }
}

/** Open episodes and the current visit, read back from the alerts a server wrote before. */
export function recoverTrip(doc: Y.Doc, route: Route): Trip {
  const trip: Trip = {}
  for (const [id, value] of mapOf(doc, 'alerts').entries()) {
    const alert = record(value) as BusAlert | undefined
    const detail = record(alert?.detail)
    if (!alert || !detail || typeof alert.at !== 'number') continue
    const newer = (current?: { alert: BusAlert }) => !current || current.alert.at < alert.at
    if (alert.type === 'speeding' && detail.endedAt === undefined && newer(trip.speeding)) trip.speeding = { id, alert, peak: Number(detail.speedKmh) || 0 }
    if (alert.type === 'off_route' && detail.endedAt === undefined && newer(trip.offRoute)) trip.offRoute = { id, alert, peak: Number(detail.distanceM) || 0 }
    if (alert.type === 'arrived' && detail.leftAt === undefined && newer(trip.visit)) {
      const stop = route.stops.find((s) => s.id === detail.stop)
      if (stop) trip.visit = { id, alert, stop }
    }
  }
  return trip
}

/** Starts, or ends, an episode of a condition; returns the alert write if there is one. */
function episode(trip: Trip, which: 'speeding' | 'offRoute', active: boolean, value: number, fix: Fix, start: () => BusAlert, peakKey: string): Array<[string, BusAlert]> {
  const open = trip[which]
  if (active && !open) {
    const alert = start()
    const id = `${alert.type}:${fix.at}`
    trip[which] = { id, alert, peak: value }
    return [[id, alert]]
  }
  if (active && open) open.peak = Math.max(open.peak, value)
  if (!active && open) {
    trip[which] = undefined
    return [[open.id, { ...open.alert, detail: { ...open.alert.detail, [peakKey]: open.peak, endedAt: fix.at } }]]
  }
  return []
}

/**
 * Advances the trip by one fix: the alert entries to write, and the stop reached, if any.
 * Pure apart from updating `trip`, so a replayed route gives the same alerts every time.
 */
export function advance(trip: Trip, route: Route, fix: Fix): { writes: Array<[string, BusAlert]>; arrived?: { id: string; stop: BusStop } } {
  const writes: Array<[string, BusAlert]> = []
  const limit = route.speedLimitKmh
  const position = { lat: fix.lat, lng: fix.lng }
  writes.push(
    ...episode(trip, 'speeding', limit !== undefined && fix.speed > limit, fix.speed, fix, () => ({
      type: 'speeding',
      at: fix.at,
      detail: { speedKmh: fix.speed, limitKmh: limit, ...position },
    }), 'maxKmh'),
  )
  const offBy = route.stops.length > 0 ? distanceToPolylineM(position, route.stops) : 0
  writes.push(
    ...episode(trip, 'offRoute', offBy > OFF_ROUTE_M, offBy, fix, () => ({
      type: 'off_route',
      at: fix.at,
      detail: { distanceM: Math.round(offBy), limitM: OFF_ROUTE_M, ...position },
    }), 'maxDistanceM'),
  )

  let nearest: { stop: BusStop; distance: number } | undefined
  for (const stop of route.stops) {
    const distance = distanceM(position, stop)
    if (distance <= stop.radiusM && (!nearest || distance < nearest.distance)) nearest = { stop, distance }
  }
  const visit = trip.visit
  const leaving = visit && (nearest ? nearest.stop.id !== visit.stop.id : distanceM(position, visit.stop) > visit.stop.radiusM * LEAVE_STOP_RADII)
  if (visit && leaving) {
    writes.push([visit.id, { ...visit.alert, detail: { ...visit.alert.detail, leftAt: fix.at } }])
    trip.visit = undefined
  }
  if (nearest && !trip.visit) {
    const id = `arrived:${nearest.stop.id}:${fix.at}`
    const alert: BusAlert = { type: 'arrived', at: fix.at, detail: { stop: nearest.stop.id, name: nearest.stop.name } }
    trip.visit = { id, alert, stop: nearest.stop }
    writes.push([id, alert])
    return { writes, arrived: { id, stop: nearest.stop } }
  }
  return { writes }
}

/** A trip has ended when the bus is at the route's last stop; a bus parked there is not stale. */
const atLastStop = (trip: Trip, route: Route): boolean => route.stops.length > 0 && trip.visit?.stop.id === route.stops[route.stops.length - 1].id

export class BusObserver implements Extension {
  readonly extensionName = 'bus-observer'
  private readonly app: Homeroom
  private readonly serial = new Serial()
  private readonly staleTimers = new Deadlines()
  private readonly trips = new Map<string, Trip>()
  /** The last fix processed per bus document, to skip a fix seen twice. */
  private readonly last = new Map<string, Fix>()

  constructor(app: Homeroom) {
    this.app = app
  }

  async onListen(): Promise<void> {
    void contain(this.app, 'bus.scan', async () => {
      const { store, hocuspocus } = this.app
      const buses = await documentsUnder(store, hocuspocus.documents.keys(), { surface: 'bus' }, (ref) => ref.surface === 'bus')
      for (const ref of buses) {
        const doc = await this.app.peek(ref.name)
        const fix = parseFix(mapOf(doc, 'position').get('now'))
        if (fix && !mapOf(doc, 'alerts').has(`stale:${fix.at}`) && !atLastStop(recoverTrip(doc, routeOf(doc)), routeOf(doc))) this.armStale(ref, fix, fix.at)
      }
    })
  }

  /** Watches `position` with a Yjs observer: it runs inside each transaction, so no fix is skipped. */
  async afterLoadDocument({ documentName, document }: afterLoadDocumentPayload): Promise<void> {
    const ref = refOf(documentName)
    if (ref?.surface !== 'bus') return
    const position = mapOf(document, 'position')
    position.observe((event) => {
      if (!event.keysChanged.has('now')) return
      const value = position.get('now')
      const peer = fromPeer(event.transaction.origin)
      void this.serial.run(documentName, () => contain(this.app, 'bus.fix', () => this.onFix(ref, value, peer)))
    })
  }

  /** The trip is recovered from the alerts when the bus reports again; the stale timer stays armed. */
  async afterUnloadDocument({ documentName }: afterUnloadDocumentPayload): Promise<void> {
    this.trips.delete(documentName)
    this.last.delete(documentName)
  }

  async onDestroy(): Promise<void> {
    this.staleTimers.stop()
  }

  private async onFix(ref: DocRef, value: unknown, peer: boolean): Promise<void> {
    const fix = parseFix(value)
    if (!fix) {
      ignoredCounter(this.app.metrics).inc({ surface: 'bus', reason: 'bad-fix' })
      return
    }
    this.armStale(ref, fix, Date.now())
    // The instance whose client sent the fix records it; peers only keep their stale timer fresh.
    if (peer) return
    const previous = this.last.get(ref.name)
    if (previous && sameJson(previous, fix)) return
    this.last.set(ref.name, fix)
    await this.app.store.appendTrail(`${ref.school}/${ref.params.bus}`, fix)

    const doc = await this.app.peek(ref.name)
    const route = routeOf(doc)
    const trip = this.trips.get(ref.name) ?? recoverTrip(doc, route)
    this.trips.set(ref.name, trip)
    const { writes, arrived } = advance(trip, route, fix)
    if (writes.length > 0) {
      await derive(this.app, ref.name, (d) => {
        const alerts = mapOf(d, 'alerts')
        for (const [id, alert] of writes) if (!sameJson(alerts.get(id), alert)) alerts.set(id, alert)
      })
    }
    if (arrived) await this.tellParents(ref, arrived.id, arrived.stop, fix.at)
  }

  /** The parents of a stop's riders get one inbox item per arrival. */
  private async tellParents(ref: DocRef, alertId: string, stop: BusStop, at: number): Promise<void> {
    const riders = new Set(stop.riders ?? [])
    if (riders.size === 0) return
    if (!(await this.app.store.claim(`bus:${ref.name}:${alertId}`))) return
    const parents = (await this.app.store.roster(ref.school)).filter((m) => m.role === 'parent' && (m.children ?? []).some((c) => riders.has(c))).map((m) => m.id)
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
          await derive(this.app, ref.name, (d) => {
            const alerts = mapOf(d, 'alerts')
            if (!alerts.has(id)) alerts.set(id, { type: 'stale', at: Date.now(), detail: { lastFixAt: fix.at, afterS } } satisfies BusAlert)
          })
        }),
      )
    })
  }
}
