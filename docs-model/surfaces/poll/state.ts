// What the poll family derives and reads: tallies from ballots, a quiz's points, the counts a
// client shows. Pure: the server's poll observer and the browser client both use these.
import type * as Y from 'yjs'
import { mapOf } from '../../common.ts'
import type { PollMeta } from './surface.ts'
import type { InboxItem } from '../inbox/surface.ts'

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

/**
 * A poll's live tally kept up to date one ballot at a time: each voter's counted choice and the
 * counts per option. A vote moves one count from the voter's old option to the new one, so a vote
 * costs the same with ten ballots as with ten thousand; the full count (`tallies`) is needed only
 * to build it, when a poll's tally is first derived or repaired.
 */
export class Tally {
  private readonly choices: Map<string, number>
  private readonly counts: number[]

  /** Built from every ballot: the one full count. */
  constructor(votes: Map<string, number>, meta: PollMeta) {
    this.choices = new Map(votes)
    this.counts = meta.options.map((_, i) => 0)
    for (const choice of votes.values()) this.counts[choice]++
  }

  /** Options it counts; a poll whose options changed needs a new tally. */
  get options(): number {
    return this.counts.length
  }

  /** Records `voter`'s choice (`undefined`: no valid vote); returns the option keys whose counts changed. */
  set(voter: string, choice: number | undefined): string[] {
    const before = this.choices.get(voter)
    if (before === choice) return []
    const changed: string[] = []
    if (before !== undefined) {
      this.counts[before]--
      changed.push(String(before))
    }
    if (choice === undefined) this.choices.delete(voter)
    else {
      this.choices.set(voter, choice)
      this.counts[choice]++
      changed.push(String(choice))
    }
    return changed
  }

  /** Counts per option index, every option present: the same shape as `tallies`. */
  toJSON(): Record<string, number> {
    return Object.fromEntries(this.counts.map((count, i) => [String(i), count]))
  }
}

/**
 * The notice of a new poll or quiz for its class (`meta.class`), once it has options: one inbox
 * item `poll:<poll document>` in each student's inbox of that class; undefined before then.
 */
export function pollNotice(name: string, meta: PollMeta, now: number): { forClass: string; id: string; item: InboxItem } | undefined {
  if (meta.class === undefined || meta.options.length === 0) return undefined
  const what = meta.kind === 'quiz' ? 'quiz' : 'poll'
  return {
    forClass: meta.class,
    id: `poll:${name}`,
    item: { type: what, title: `New ${what} in ${meta.class}${meta.question ? `: ${meta.question}` : ''}`.slice(0, 200), body: meta.options.join(' · ').slice(0, 4000), priority: 'normal', at: now, data: { poll: name, kind: what } },
  }
}
