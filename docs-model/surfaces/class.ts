import { z } from 'zod'
import { decodeLayout, time } from '../common.ts'
import { roles, server } from '../who.ts'
import type { Surface } from '../types.ts'

export const ACTIVITY_STATES = ['active', 'idle', 'away'] as const

const layout = {
  activity: {
    kind: 'map',
    value: z.object({ state: z.enum(ACTIVITY_STATES), page: z.string().max(500).optional(), handRaised: z.boolean().optional(), at: time }),
  },
  stats: { kind: 'map' },
  actions: { kind: 'map', value: z.union([z.string().max(500), z.boolean(), z.null()]) },
} as const

/** `s/class/<id>`: live classroom monitoring; students report activity, the server derives stats. */
export const classroom: Surface = {
  key: 'class',
  pattern: 'class/:class',
  layout,
  read: (user, ref) => user.role === 'teacher' || user.classes.includes(ref.params.class),
  writes: [
    { path: 'activity/$self', by: (ctx) => ctx.user.role === 'student' && ctx.user.classes.includes(ctx.ref.params.class), ops: ['insert'] },
    { path: 'stats', by: server },
    { path: 'actions', by: roles('teacher') },
  ],
  decode: (d) => decodeLayout(layout, d),
}
