// What the bus family derives: a fix and the route read from the document, distances on the
// Earth's surface, and a trip's alerts (speeding and off-route episodes, arrivals at stops).
// Pure: the server's bus observer runs it per fix, the browser client reads the route with it.
import type * as Y from 'yjs'
import { mapOf, record, toMillis } from '../../common.ts'
import { busFix, busStop, type BusAlert, type BusStop, type Fix } from './surface.ts'

// Routes span a few kilometres, so a local flat projection around the point is accurate to well
// under a metre.
export interface LatLng {
  lat: number
  lng: number
}

const EARTH_RADIUS_M = 6_371_008.8
const rad = (deg: number): number => (deg * Math.PI) / 180

/** Great-circle distance (haversine). */
export function distanceM(a: LatLng, b: LatLng): number {
  const dLat = rad(b.lat - a.lat)
  const dLng = rad(b.lng - a.lng)
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(rad(a.lat)) * Math.cos(rad(b.lat)) * Math.sin(dLng / 2) ** 2
  return 2 * EARTH_RADIUS_M * Math.asin(Math.min(1, Math.sqrt(h)))
}

/** Distance from `p` to the polyline through `points` in order (to the point itself when there is one). */
export function distanceToPolylineM(p: LatLng, points: readonly LatLng[]): number {
  if (points.length === 0) return Number.POSITIVE_INFINITY
  if (points.length === 1) return distanceM(p, points[0])
  // Project onto a plane tangent at p: x east, y north, in metres.
  const kx = EARTH_RADIUS_M * Math.cos(rad(p.lat))
  const project = (q: LatLng) => ({ x: rad(q.lng - p.lng) * kx, y: rad(q.lat - p.lat) * EARTH_RADIUS_M })
  let best = Number.POSITIVE_INFINITY
  for (let i = 0; i + 1 < points.length; i++) {
    const a = project(points[i])
    const b = project(points[i + 1])
    const dx = b.x - a.x
    const dy = b.y - a.y
    const length2 = dx * dx + dy * dy
    const t = length2 === 0 ? 0 : Math.max(0, Math.min(1, -(a.x * dx + a.y * dy) / length2))
    best = Math.min(best, Math.hypot(a.x + t * dx, a.y + t * dy))
  }
  return best
}

/** A fix farther than this from the route's polyline is off route. */
export const OFF_ROUTE_M = 300
/** A visit to a stop ends once the bus is this many radii away (so GPS jitter at the edge is one visit). */
export const LEAVE_STOP_RADII = 1.5

export interface Route {
  stops: BusStop[]
  speedLimitKmh?: number
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
export const atLastStop = (trip: Trip, route: Route): boolean => route.stops.length > 0 && trip.visit?.stop.id === route.stops[route.stops.length - 1].id
