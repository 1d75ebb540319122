// What the leaderboard family derives: each user's total over all sources, ranked. Pure: the
// server records scores with it when a quiz or an exam closes.
import { equalityDeep } from 'lib0/function'
import type * as Y from 'yjs'
import { record } from '../../common.ts'
import type { LeaderboardEntry, Scores } from './surface.ts'

/** Ranks every user by their total over all sources: 1, 2, 2, 4 for a tie at second place. */
export function standings(sources: Iterable<unknown>): Record<string, LeaderboardEntry> {
  const totals = new Map<string, { name: string; score: number }>()
  for (const scores of sources) {
    for (const [user, value] of Object.entries(record(scores) ?? {})) {
      const entry = record(value)
      if (!entry || typeof entry.score !== 'number' || !Number.isFinite(entry.score)) continue
      const total = totals.get(user) ?? { name: user, score: 0 }
      total.score += entry.score
      if (typeof entry.name === 'string' && entry.name) total.name = entry.name
      totals.set(user, total)
    }
  }
  const ordered = [...totals].sort(([a, x], [b, y]) => y.score - x.score || (a < b ? -1 : a > b ? 1 : 0))
  const entries: Record<string, LeaderboardEntry> = {}
  ordered.forEach(([user, { name, score }], i) => {
    const previous = i > 0 ? entries[ordered[i - 1][0]] : undefined
    entries[user] = { name, score, rank: previous && previous.score === score ? previous.rank : i + 1 }
  })
  return entries
}

/** Sets `source`'s contribution and re-ranks `entries`; writes nothing where nothing changes. */
export function applyScores(doc: Y.Doc, source: string, scores: Scores): void {
  const sources = doc.getMap('sources')
  if (!equalityDeep(sources.get(source), scores)) sources.set(source, scores)
  const wanted = standings(sources.values())
  const entries = doc.getMap('entries')
  for (const [user, entry] of Object.entries(wanted)) {
    if (!equalityDeep(entries.get(user), entry)) entries.set(user, entry)
  }
  for (const user of [...entries.keys()]) if (!(user in wanted)) entries.delete(user)
}
