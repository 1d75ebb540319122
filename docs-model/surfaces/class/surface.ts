import { z } from 'zod'
import { decodeLayout, mapOf, record, time } from '../../common.ts'
import { roles, server } from '../../who.ts'
import type { Surface } from '../../types.ts'
import type * as Y from 'yjs'

export const ACTIVITY_STATES = ['active', 'idle', 'away'] as const

const layout = {
  activity: {
    kind: 'map',
    value: z.strictObject({ state: z.enum(ACTIVITY_STATES), page: z.string().max(500).optional(), handRaised: z.boolean().optional(), at: time }),
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

export type ActivityState = (typeof ACTIVITY_STATES)[number]

export type ClassStats = {
  active: number
  idle: number
  away: number
  /** Percentage (0 to 100) of the class's students that are active right now. */
  participation: number
  handsRaised: number
}

/**
 * The `stats` the server derives from `activity`. `classSize` is the number of students the
 * roster lists for the class; when it lists none, the students with an entry are the class.
 */
export function classStats(doc: Y.Doc, classSize = 0): ClassStats {
  const stats: ClassStats = { active: 0, idle: 0, away: 0, participation: 0, handsRaised: 0 }
  let entries = 0
  mapOf(doc, 'activity').forEach((value) => {
    const entry = record(value)
    const state = entry?.state
    if (state !== 'active' && state !== 'idle' && state !== 'away') return
    entries++
    stats[state]++
    if (entry!.handRaised === true && state !== 'away') stats.handsRaised++
  })
  const size = Math.max(classSize, entries)
  stats.participation = size === 0 ? 0 : Math.round((100 * stats.active) / size)
  return stats
}

/** A student's own activity entry (`activity/<self>`). */
export function reportActivity(doc: Y.Doc, user: string, state: ActivityState, extra: { page?: string; handRaised?: boolean } = {}): void {
  doc.getMap('activity').set(user, { state, ...extra, at: Date.now() })
}
