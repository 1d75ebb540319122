// Polls and quizzes: tallies derived from the per-user ballot documents into the poll document,
// and the close at `closesAt`. Ballots stay in their own documents (anonymous ballots are
// readable by their voter only); the poll document only ever shows counts, plus, for quizzes
// that are not anonymous, each voter's points after the close.
//
// Every write here is a pure function of stored state (ballots as journaled, at `closesAt` for
// the close), so re-running it on any instance, or after a restart, writes the same values or
// nothing. That is why the close needs no claim: a claim taken by an instance that then died
// would lose the close, while a second identical write changes nothing.
import type * as Y from 'yjs'
import type { Homeroom } from '../../server/homeroom.ts'
import { resolve } from '../../docs-model/registry.ts'
import type { DocRef } from '../../docs-model/types.ts'
import { mapOf } from '../../docs-model/common.ts'
import { ballotVoter, isChoice, pollClosed, pollKeyName, pollMeta, pollName, type PollMeta } from '../../docs-model/surfaces/poll/surface.ts'
import { quizPoints, tallies } from '../../docs-model/surfaces/poll/state.ts'
import { Coalescer, Deadlines, readDoc, report, syncMap } from './runtime.ts'
import type { Change, Observer } from './registry.ts'
import { namedScores, recordScores } from './leaderboard.ts'

/** Votes arriving within this window are counted in one pass. */
const RECOUNT_DELAY_MS = 30
/** A close that failed (storage briefly unavailable) is tried again this much later. */
export const CLOSE_RETRY_MS = 2000

export class PollObserver implements Observer {
  readonly name = 'poll-observer'
  readonly surfaces = ['poll', 'poll/ballot', 'poll/key']
  private readonly app: Homeroom
  private readonly recounts: Coalescer
  private readonly closes: Deadlines
  /** The deadline each poll's close is armed for. */
  private readonly armed = new Map<string, number>()

  constructor(app: Homeroom) {
    this.app = app
    this.recounts = new Coalescer(RECOUNT_DELAY_MS, (error) => report(app, this.name, error))
    this.closes = new Deadlines(app.clock)
  }

  /** Re-arms the deadline of every poll not yet closed, so a restart in between loses no close. */
  start(): void {
    void this.rearmAll().catch((error) => report(this.app, this.name, error))
  }

  stop(): void {
    this.recounts.close()
    this.closes.stop()
    this.armed.clear()
  }

  loaded(ref: DocRef, doc: Y.Doc): void {
    if (ref.surface === 'poll') this.arm(ref.name, pollMeta(doc), mapOf(doc, 'results').get('closedAt'))
  }

  changed({ ref, doc }: Change): void {
    const poll = pollName(ref.school, ref.params.poll)
    if (ref.surface === 'poll') this.arm(poll, pollMeta(doc), mapOf(doc, 'results').get('closedAt'))
    this.recounts.request(poll, () => this.derive(poll))
  }

  private async rearmAll(): Promise<void> {
    for (const { name } of await this.app.store.listDocuments({ surface: 'poll' })) {
      if (resolve(name).ref.surface !== 'poll') continue
      const { meta, closedAt } = await readDoc(this.app, name, (doc) => ({ meta: pollMeta(doc), closedAt: mapOf(doc, 'results').get('closedAt') }))
      this.arm(name, meta, closedAt)
    }
  }

  /** Schedules the close of a poll with a deadline it has not been closed at yet. */
  private arm(poll: string, meta: PollMeta, closedAt: unknown): void {
    if (this.armed.get(poll) === meta.closesAt && this.closes.has(poll)) return
    this.closes.clear(poll)
    this.armed.delete(poll)
    if (meta.closesAt === undefined || closedAt === meta.closesAt) return
    this.schedule(poll, meta.closesAt, meta.closesAt)
  }

  private schedule(poll: string, closesAt: number, at: number): void {
    this.armed.set(poll, closesAt)
    this.closes.set(poll, at, () => this.recounts.request(poll, () => this.close(poll, closesAt)))
  }

  /** The derivation due at the deadline; when it fails (storage briefly unavailable) it is tried again. */
  private async close(poll: string, closesAt: number): Promise<void> {
    try {
      await this.derive(poll)
    } catch (error) {
      if (!this.closes.has(poll)) this.schedule(poll, closesAt, this.app.clock.now() + CLOSE_RETRY_MS)
      throw error
    }
  }

  /** Live tallies while the poll is open; final tallies and results once `closesAt` has passed. */
  private async derive(poll: string): Promise<void> {
    const meta = await readDoc(this.app, poll, pollMeta)
    if (meta.options.length === 0) return
    if (!pollClosed(meta, this.app.clock.now())) {
      // A timer may fire a millisecond early; arming again is a no-op while one is pending.
      this.arm(poll, meta, undefined)
      await syncMap(this.app, this.name, poll, 'tallies', tallies(await this.ballots(poll, meta), meta), { prune: true })
      return
    }
    const votes = await this.ballots(poll, meta, meta.closesAt)
    await syncMap(this.app, this.name, poll, 'tallies', tallies(votes, meta), { prune: true })
    const results: Record<string, unknown> = { closedAt: meta.closesAt, total: votes.size }
    if (meta.kind === 'quiz') {
      const { school, params } = resolve(poll).ref
      const correct = await readDoc(this.app, pollKeyName(school, params.poll), (doc) => mapOf(doc, 'key').get('correct'))
      if (typeof correct === 'number') {
        const points = quizPoints(votes, correct)
        // Per-user points would tell who chose the right option: anonymous quizzes publish only the answer.
        Object.assign(results, { correct, scores: meta.anonymous ? {} : points })
        if (!meta.anonymous) await this.feedLeaderboard(poll, meta, points)
      }
    }
    await syncMap(this.app, this.name, poll, 'results', results, { prune: true })
    const { school } = resolve(poll).ref
    this.app.eventsOut.publish({ type: 'poll.closed', id: `poll.closed:${poll}:${meta.closesAt}`, school, at: meta.closesAt, data: { poll, tallies: tallies(votes, meta), ...results } })
  }

  /** Each voter's valid choice, from their ballot document (as stored at `at`, when given). */
  private async ballots(poll: string, meta: PollMeta, at?: number): Promise<Map<string, number>> {
    const { school } = resolve(poll).ref
    const votes = new Map<string, number>()
    for (const { name } of await this.app.store.listDocuments({ school, surface: 'poll' })) {
      const voter = ballotVoter(poll, name)
      if (voter === undefined) continue
      const choice = await readDoc(this.app, name, (doc) => mapOf(doc, 'ballot').get('choice'), at)
      if (isChoice(choice, meta)) votes.set(voter, choice)
    }
    return votes
  }

  private async feedLeaderboard(poll: string, meta: PollMeta, points: Record<string, number>): Promise<void> {
    const { school, params } = resolve(poll).ref
    const scores = await namedScores(this.app.store, school, Object.entries(points))
    await recordScores(this.app.hocuspocus, school, meta.leaderboard ?? params.poll, scores, `poll-${params.poll}`)
  }
}
