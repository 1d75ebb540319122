// Distances on the Earth's surface, in metres, for bus alerts. Routes span a few kilometres,
// so a local flat projection around the point is accurate to well under a metre.
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
