// Recording scores on `s/leaderboard/<board>`. Each source (a quiz, an exam) contributes its
// scores under its own key in `sources`; `entries` is derived from all sources: the sum per user,
// ranked by score (ties share a rank, then ordered by user id). Recording the same source again
// replaces its contribution, so a repeated or concurrent call changes nothing.
import type { Hocuspocus } from '@hocuspocus/server'
import { serverWrite } from '../../server/writes.ts'
import type { RosterStore } from '../../server/store/types.ts'
import { leaderboardName, type Scores } from '../../docs-model/surfaces/leaderboard/surface.ts'
import { applyScores } from '../../docs-model/surfaces/leaderboard/state.ts'

/**
 * Sets `source`'s scores on the board `<school>/leaderboard/<board>` and re-ranks it.
 * Callers pick a stable source id (`poll-<id>`, `exam-<id>`); the default suits a board fed by one source.
 */
export async function recordScores(hocuspocus: Hocuspocus, school: string, board: string, scores: Scores, source = 'scores', at?: number): Promise<void> {
  // Yjs emits no update for a transaction that changes nothing, so an unchanged board stays untouched.
  await serverWrite(hocuspocus, leaderboardName(school, board), (doc) => applyScores(doc, source, scores, at))
}

/** Points per user as a board's scores, each user named as the school's roster names them (else by id). */
export async function namedScores(roster: RosterStore, school: string, points: Iterable<[string, number]>): Promise<Scores> {
  const names = new Map((await roster.roster(school)).map((m) => [m.id, m.name]))
  const scores: Scores = {}
  for (const [user, score] of points) scores[user] = { name: names.get(user) ?? user, score }
  return scores
}
