// What the poll family derives and reads: tallies from ballots, a quiz's points, the counts a
// client shows. Pure: the server's poll observer and the browser client both use these.
import type * as Y from 'yjs'
import { mapOf } from '../../common.ts'
import type { PollMeta } from './surface.ts'

/** Counts per option index, every option present (zero included). */
export function tallies(votes: Map<string, number>, meta: PollMeta): Record<string, number> {
  const counts: Record<string, number> = Object.fromEntries(meta.options.map((_, i) => [String(i), 0]))
  for (const choice of votes.values()) counts[String(choice)]++
  return counts
}

/** A quiz's points per voter: one for the correct option, else none. */
export function quizPoints(votes: Map<string, number>, correct: number): Record<string, number> {
  return Object.fromEntries([...votes].map(([user, choice]) => [user, choice === correct ? 1 : 0]))
}

/** The poll document's counts per option, in option order. */
export function talliesOf(doc: Y.Doc, meta: PollMeta): number[] {
  const counts = mapOf(doc, 'tallies')
  return meta.options.map((_, i) => Number(counts.get(String(i)) ?? 0))
}

/** The choice in a ballot document, if one was made. */
export function choiceOf(ballotDoc: Y.Doc): number | undefined {
  const choice = mapOf(ballotDoc, 'ballot').get('choice')
  return typeof choice === 'number' ? choice : undefined
}
