// Recording scores on `s/leaderboard/<board>`. Each source (a quiz, an exam) contributes its
// scores under its own key in `sources`; `entries` is derived from all sources: the sum per user,
// ranked by score (ties share a rank, then ordered by user id). Recording the same source again
// replaces its contribution, so a repeated or concurrent call changes nothing.
import type { Hocuspocus } from '@hocuspocus/server'
import * as Y from 'yjs'
import { serverWrite } from '../../server/writes.ts'
import { leaderboardName, type LeaderboardEntry } from '../../docs-model/surfaces/leaderboard/surface.ts'
import { record } from '../../docs-model/common.ts'

export type Scores = Record<string, { name: string; score: number }>

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

function apply(doc: Y.Doc, source: string, scores: Scores): void {
  const sources = doc.getMap('sources')
  if (JSON.stringify(sources.get(source)) !== JSON.stringify(scores)) sources.set(source, scores)
  const wanted = standings(sources.values())
  const entries = doc.getMap('entries')
  for (const [user, entry] of Object.entries(wanted)) {
    if (JSON.stringify(entries.get(user)) !== JSON.stringify(entry)) entries.set(user, entry)
  }
  for (const user of [...entries.keys()]) if (!(user in wanted)) entries.delete(user)
}

/**
 * Sets `source`'s scores on the board `<school>/leaderboard/<board>` and re-ranks it.
 * Callers pick a stable source id (`poll-<id>`, `exam-<id>`); the default suits a board fed by one source.
 */
export async function recordScores(hocuspocus: Hocuspocus, school: string, board: string, scores: Scores, source = 'scores'): Promise<void> {
  // Yjs emits no update for a transaction that changes nothing, so an unchanged board stays untouched.
  await serverWrite(hocuspocus, leaderboardName(school, board), (doc) => apply(doc, source, scores))
}
