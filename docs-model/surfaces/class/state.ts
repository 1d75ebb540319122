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

type State = 'active' | 'idle' | 'away'
/** What one activity entry adds to the stats: its state, and whether it holds a hand up. */
type Contribution = { state: State; hand: boolean }

function contributionOf(value: unknown): Contribution | undefined {
  const entry = record(value)
  const state = entry?.state
  if (state !== 'active' && state !== 'idle' && state !== 'away') return undefined
  return { state, hand: entry!.handRaised === true && state !== 'away' }
}

/**
 * The counts behind a class's `stats`, kept one activity entry at a time: a student's change
 * moves their own contribution, so it costs the same in a class of 5 as in one of 500.
 */
export class ActivityCounts {
  private readonly entries = new Map<string, Contribution>()
  private readonly counts = { active: 0, idle: 0, away: 0, handsRaised: 0 }

  /** Counted from every entry of `activity`: the one full count. */
  constructor(activity: Y.Map<unknown>) {
    activity.forEach((value, user) => this.set(user, value))
  }

  /** Records `user`'s entry as it now is (`undefined` once removed). */
  set(user: string, value: unknown): void {
    const before = this.entries.get(user)
    if (before) {
      this.counts[before.state]--
      if (before.hand) this.counts.handsRaised--
    }
    const after = contributionOf(value)
    if (after) {
      this.entries.set(user, after)
      this.counts[after.state]++
      if (after.hand) this.counts.handsRaised++
    } else this.entries.delete(user)
  }

  /** The `stats` for a class the roster lists `classSize` students in (when it lists none, the students with an entry are the class). */
  stats(classSize = 0): ClassStats {
    const size = Math.max(classSize, this.entries.size)
    return { ...this.counts, participation: size === 0 ? 0 : Math.round((100 * this.counts.active) / size) }
  }
}

/** The `stats` the server derives from `activity`, counted afresh. */
export const classStats = (doc: Y.Doc, classSize = 0): ClassStats => new ActivityCounts(mapOf(doc, 'activity')).stats(classSize)

/** Users with an activity entry that is not away yet and that `gone` selects. */
export function leaving(doc: Y.Doc, gone: (user: string) => boolean): string[] {
  const users: string[] = []
  mapOf(doc, 'activity').forEach((entry, user) => {
    if (record(entry)?.state !== 'away' && gone(user)) users.push(user)
  })
  return users
}
