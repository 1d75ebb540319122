// The bus family: `s/bus/<id>`, its name and the key of its trail, the shapes of a fix, a stop
// and an alert, and the driver's write.
import { z } from 'zod'
import { decodeLayout, time, userId } from '../../common.ts'
import { roles, server } from '../../who.ts'
import type { Surface } from '../../types.ts'
import type * as Y from 'yjs'

export const busName = (school: string, bus: string): string => `${school}/bus/${bus}`
/** The key of a bus's recorded fixes in the store's trail table. */
export const busTrailKey = (school: string, bus: string): string => `${school}/${bus}`

export const BUS_ALERT_TYPES = ['speeding', 'off_route', 'arrived', 'stale'] as const
export type BusAlertType = (typeof BUS_ALERT_TYPES)[number]

/** An alert the server writes (`alerts/<type>:<time>`); episodes complete `detail` when they end. */
export interface BusAlert {
  type: BusAlertType
  at: number
  detail: Record<string, unknown>
}

export const busFix = z.strictObject({
  lat: z.number().min(-90).max(90),
  lng: z.number().min(-180).max(180),
  speed: z.number().finite().min(0).max(400),
  heading: z.number().finite(),
  accuracy: z.number().finite().nonnegative().optional(),
  at: time,
})
export type BusFix = z.infer<typeof busFix>
/** A fix as the server records it in the trail: its time in milliseconds, without the accuracy. */
export type Fix = Omit<BusFix, 'at' | 'accuracy'> & { at: number }

export const busStop = z.strictObject({
  id: z.string().max(64),
  name: z.string().max(200),
  lat: z.number().min(-90).max(90),
  lng: z.number().min(-180).max(180),
  radiusM: z.number().positive().max(10000),
  /** Students who get on or off here: their parents (roster `children`) are told when the bus arrives. */
  riders: z.array(userId).max(500).optional(),
})
export type BusStop = z.infer<typeof busStop>

const layout = {
  position: { kind: 'map', value: busFix },
  route: { kind: 'map', value: z.union([z.array(busStop).max(500), z.number().positive().max(300)]) },
  alerts: { kind: 'map' },
} as const

/** A driver's client reports a fix: always the single `position/now` entry, so the document stays tiny. */
export function reportPosition(doc: Y.Doc, fix: BusFix): void {
  doc.getMap('position').set('now', busFix.parse(fix))
}

/** `s/bus/<id>`: one bus's live position (one key, so the document stays tiny), route and alerts. */
export const bus: Surface = {
  key: 'bus',
  pattern: 'bus/:bus',
  layout,
  read: (user, ref) => user.buses.includes(ref.params.bus) || user.role === 'admin',
  writes: [
    { path: 'position/now', by: (ctx) => ctx.user.role === 'driver' && ctx.user.buses.includes(ctx.ref.params.bus), ops: ['insert'] },
    { path: 'route', by: roles('admin') },
    { path: 'alerts', by: server },
  ],
  decode: (d) => decodeLayout(layout, d),
}
