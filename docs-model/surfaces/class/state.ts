// What the class family derives: the stats of a class from its students' activity, and whose
// entries the server turns away. Pure: the classroom observer and the browser client use these.
import type * as Y from 'yjs'
import { mapOf, record } from '../../common.ts'

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

/** Users with an activity entry that is not away yet and that `gone` selects. */
export function leaving(doc: Y.Doc, gone: (user: string) => boolean): string[] {
  const users: string[] = []
  mapOf(doc, 'activity').forEach((entry, user) => {
    if (record(entry)?.state !== 'away' && gone(user)) users.push(user)
  })
  return users
}
