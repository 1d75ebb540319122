// Bus map drawn as SVG from the route's coordinates (no map tiles: schools may have no internet).
// Drivers can simulate a trip; everyone else watches the position and the server's alerts.
import type { BusClient } from '@homeroom/client'
import { attempt, h, panel, svg, timeOf } from './dom.ts'

const W = 400
const H = 240
const PAD = 30
/** Room on the right for the last stop's name. */
const LABEL_ROOM = 70

export function busPanel(bus: BusClient): HTMLElement {
  let timer: ReturnType<typeof setInterval> | undefined
  const render = () => {
    const stops = bus.stops()
    const fix = bus.position()
    const points = [...stops, ...(fix ? [fix] : [])]
    if (points.length === 0) return [h('p', { class: 'muted' }, 'No route yet.')]
    const lats = points.map((p) => p.lat)
    const lngs = points.map((p) => p.lng)
    const [minLat, maxLat, minLng, maxLng] = [Math.min(...lats), Math.max(...lats), Math.min(...lngs), Math.max(...lngs)]
    const x = (lng: number) => PAD + ((lng - minLng) / (maxLng - minLng || 1)) * (W - 2 * PAD - LABEL_ROOM)
    const y = (lat: number) => H - PAD - ((lat - minLat) / (maxLat - minLat || 1)) * (H - 2 * PAD)
    const map = svg(
      'svg',
      { viewBox: `0 0 ${W} ${H}`, class: 'map', 'data-testid': 'bus-map', role: 'img', 'aria-label': 'Bus route map' },
      svg('rect', { x: 0, y: 0, width: W, height: H, class: 'map-bg' }),
      svg('polyline', { points: stops.map((s) => `${x(s.lng)},${y(s.lat)}`).join(' '), class: 'route' }),
      ...stops.map((s) => svg('g', {}, svg('circle', { cx: x(s.lng), cy: y(s.lat), r: 6, class: 'stop' }), svg('text', { x: x(s.lng) + 9, y: y(s.lat) + 4, class: 'stop-label' }, s.name))),
      ...(fix ? [svg('circle', { cx: x(fix.lng), cy: y(fix.lat), r: 9, class: 'bus', 'data-testid': 'bus-marker' })] : []),
    )
    const alerts = bus.alerts().slice(-5).reverse()
    return [
      map,
      h('p', { class: 'muted' }, fix ? `${Math.round(fix.speed)} km/h · ${timeOf(fix.at)}` : 'Waiting for the bus to report its position.'),
      ...alerts.map(([, a]) => h('p', { class: `bus-alert ${a.type}` }, `${a.type.replace('_', ' ')} · ${timeOf(a.at)}`)),
    ]
  }
  const drive = () => {
    if (timer) {
      clearInterval(timer)
      timer = undefined
      return
    }
    const stops = bus.stops()
    if (stops.length < 2) return
    let step = 0
    const steps = (stops.length - 1) * 10
    timer = setInterval(() => {
      const leg = Math.min(Math.floor(step / 10), stops.length - 2)
      const t = (step - leg * 10) / 10
      const [a, b] = [stops[leg], stops[leg + 1]]
      attempt(() =>
        bus.report({ lat: a.lat + (b.lat - a.lat) * t, lng: a.lng + (b.lng - a.lng) * t, speed: 25 + Math.random() * 10, heading: 45, at: Date.now() }),
      )
      step = (step + 1) % (steps + 1)
    }, 1000)
  }
  const controls = bus.handle.canWrite('position/now') ? h('button', { class: 'small', 'data-testid': 'drive', onclick: drive }, 'Drive / stop') : null
  return panel('Bus b1', 'panel-bus', render, (rerender) => bus.handle.on('change', rerender), controls ?? undefined)
}
