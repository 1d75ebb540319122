// The class family: `s/class/<id>`, the shape of a student's activity entry, and the writes
// students (activity) and teachers (actions) make.
import { z } from 'zod'
import { decodeLayout, time } from '../../common.ts'
import { roles, server } from '../../who.ts'
import type { Surface } from '../../types.ts'
import type * as Y from 'yjs'

export const className = (school: string, id: string): string => `${school}/class/${id}`

export const ACTIVITY_STATES = ['active', 'idle', 'away'] as const
export type ActivityState = (typeof ACTIVITY_STATES)[number]

export const activityEntry = z.strictObject({ state: z.enum(ACTIVITY_STATES), page: z.string().max(500).optional(), handRaised: z.boolean().optional(), at: time })
export type ActivityEntry = z.infer<typeof activityEntry>

/** What a teacher can ask of every screen: focus on a page, or lock them. */
export type ClassAction = 'focus' | 'lock'

const layout = {
  activity: { kind: 'map', value: activityEntry },
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

/** A student's own activity entry (`activity/<self>`). */
export function reportActivity(doc: Y.Doc, user: string, state: ActivityState, extra: { page?: string; handRaised?: boolean } = {}, at: number = Date.now()): void {
  doc.getMap('activity').set(user, { state, ...extra, at })
}

/** Teachers: sets an action every student's screen follows (`null` lifts it). */
export function classAction(doc: Y.Doc, action: ClassAction, value: string | boolean | null): void {
  doc.getMap('actions').set(action, value)
}
