// Polls and quizzes: tallies derived from the per-user ballot documents into the poll document,
// and the close at `closesAt`. Ballots stay in their own documents (anonymous ballots are
// readable by their voter only); the poll document only ever shows counts, plus, for quizzes
// that are not anonymous, each voter's points after the close.
//
// Live tallies are kept incrementally: a `Tally` per poll, built by one full count of the stored
// ballots when the poll is first derived, then moved one ballot at a time as ballots change on
// this instance. A change to the poll's options, and the close, count again from storage. With
// other instances (Redis), ballots cast there are not seen here, so after a burst of votes each
// instance repairs its tally by a full count, at most once per REPAIR_DELAY_MS.
//
// Every write here is a pure function of stored state (ballots as journaled, at `closesAt` for
// the close), so re-running it on any instance, or after a restart, writes the same values or
// nothing. That is why the close needs no claim: a claim taken by an instance that then died
// would lose the close, while a second identical write changes nothing.
import * as map from 'lib0/map'
import type * as Y from 'yjs'
import type { Homeroom } from '../../server/homeroom.ts'
import { resolve } from '../../docs-model/registry.ts'
import type { DocRef } from '../../docs-model/types.ts'
import { mapOf } from '../../docs-model/common.ts'
import { ballotName, ballotVoter, isChoice, pollClosed, pollKeyName, pollMeta, pollName, pollResultName, type PollMeta } from '../../docs-model/surfaces/poll/surface.ts'
import { quizPoints, Tally, tallies } from '../../docs-model/surfaces/poll/state.ts'
import { chunks, Coalescer, Deadlines, readDoc, report, syncMap, writerTurn } from './runtime.ts'
import { leaderboardName } from '../../docs-model/surfaces/leaderboard/surface.ts'
import type { Change, Observer } from './registry.ts'
import { namedScores, recordScores } from './leaderboard.ts'

/** Votes arriving within this window are counted in one pass. */
const RECOUNT_DELAY_MS = 30
/** With other instances: how long after a vote the tally is counted again from storage. */
const REPAIR_DELAY_MS = 1000
/** A close that failed (storage briefly unavailable) is tried again this much later. */
export const CLOSE_RETRY_MS = 2000
/** Result documents written at once after a quiz closes (each write loads and stores one document). */
const RESULT_BATCH = 25

export class PollObserver implements Observer {
  readonly name = 'poll-observer'
  readonly surfaces = ['poll', 'poll/ballot', 'poll/key']
  private readonly app: Homeroom
  private readonly recounts: Coalescer
  private readonly repairs: Coalescer
  private readonly closes: Deadlines
  /** Each open poll's tally, and the voters whose ballots changed since it was last written. */
  private readonly tallies = new Map<string, Tally>()
  private readonly changedVoters = new Map<string, Set<string>>()
  /** The deadline each poll's close is armed for. */
  private readonly armed = new Map<string, number>()

  constructor(app: Homeroom) {
    this.app = app
    this.recounts = new Coalescer(RECOUNT_DELAY_MS, (error) => report(app, this.name, error))
    this.repairs = new Coalescer(REPAIR_DELAY_MS, (error) => report(app, this.name, error))
    this.closes = new Deadlines(app.clock)
  }

  /** Re-arms the deadline of every poll not yet closed, so a restart in between loses no close. */
  start(): void {
    void this.rearmAll().catch((error) => report(this.app, this.name, error))
  }

  stop(): void {
    this.recounts.close()
    this.repairs.close()
    this.closes.stop()
    this.armed.clear()
    this.tallies.clear()
    this.changedVoters.clear()
  }

  loaded(ref: DocRef, doc: Y.Doc): void {
    if (ref.surface === 'poll') this.arm(ref.name, pollMeta(doc), mapOf(doc, 'results').get('closedAt'))
  }

  changed({ ref, doc, source }: Change): void {
    const poll = pollName(ref.school, ref.params.poll)
    if (ref.surface === 'poll') {
      this.arm(poll, pollMeta(doc), mapOf(doc, 'results').get('closedAt'))
      // Another instance's derived write: answering it with this instance's partial tally
      // would bounce writes between instances; the instance that changed the poll derives it.
      if (source === 'peer') return
    }
    if (ref.surface === 'poll/ballot') map.setIfUndefined(this.changedVoters, poll, () => new Set<string>()).add(ref.params.user)
    this.recounts.request(poll, () => this.derive(poll))
    if (this.app.redis && ref.surface === 'poll/ballot') this.repairs.request(poll, () => this.repair(poll))
  }

  /** Drops the tally and derives again from every stored ballot (ballots cast on other instances included). */
  private async repair(poll: string): Promise<void> {
    this.tallies.delete(poll)
    await this.derive(poll)
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
      const tally = await this.liveTally(poll, meta)
      await syncMap(this.app, this.name, poll, 'tallies', tally.toJSON(), { prune: true })
      return
    }
    this.tallies.delete(poll)
    this.changedVoters.delete(poll)
    const votes = await this.ballots(poll, meta, meta.closesAt)
    await syncMap(this.app, this.name, poll, 'tallies', tallies(votes, meta), { prune: true })
    const results: Record<string, unknown> = { closedAt: meta.closesAt, total: votes.size }
    if (meta.kind === 'quiz') {
      const { school, params } = resolve(poll).ref
      const correct = await readDoc(this.app, pollKeyName(school, params.poll), (doc) => mapOf(doc, 'key').get('correct'))
      if (typeof correct === 'number') {
        const points = quizPoints(votes, correct)
        Object.assign(results, { correct, correctCount: Object.values(points).filter((p) => p > 0).length })
        // Per-user results would tell teachers who chose what: anonymous quizzes publish only the answer.
        if (!meta.anonymous) {
          await this.recordResults(poll, votes, points, meta.closesAt!)
          if (meta.leaderboard !== false) await this.feedLeaderboard(poll, meta.leaderboard, points)
        }
      }
    }
    await syncMap(this.app, this.name, poll, 'results', results, { prune: true })
    const { school } = resolve(poll).ref
    this.app.eventsOut.publish({ type: 'poll.closed', id: `poll.closed:${poll}:${meta.closesAt}`, school, at: meta.closesAt, data: { poll, tallies: tallies(votes, meta), ...results } })
  }

  /** The poll's tally with every changed ballot applied: built by a full count when there is none yet. */
  private async liveTally(poll: string, meta: PollMeta): Promise<Tally> {
    const voters = this.changedVoters.get(poll) ?? new Set<string>()
    this.changedVoters.delete(poll)
    let tally = this.tallies.get(poll)
    if (tally?.options !== meta.options.length) tally = undefined
    if (!tally) {
      tally = new Tally(await this.ballots(poll, meta), meta)
      this.tallies.set(poll, tally)
      return tally
    }
    const { school, params } = resolve(poll).ref
    for (const voter of voters) {
      const choice = await readDoc(this.app, ballotName(school, params.poll, voter), (doc) => mapOf(doc, 'ballot').get('choice'))
      tally.set(voter, isChoice(choice, meta) ? choice : undefined)
    }
    return tally
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

  /** Each voter's own result document; rewriting an unchanged result writes nothing. */
  private async recordResults(poll: string, votes: Map<string, number>, points: Record<string, number>, closedAt: number): Promise<void> {
    const { school, params } = resolve(poll).ref
    for (const batch of chunks([...votes], RESULT_BATCH)) {
      await Promise.all(
        batch.map(([user, choice]) =>
          syncMap(this.app, this.name, pollResultName(school, params.poll, user), 'result', { choice, correct: points[user] > 0, points: points[user], closedAt }),
        ),
      )
    }
  }

  private async feedLeaderboard(poll: string, board: true | string, points: Record<string, number>): Promise<void> {
    const { school, params } = resolve(poll).ref
    const scores = await namedScores(this.app.store, school, Object.entries(points))
    const name = board === true ? params.poll : board
    if (await writerTurn(this.app, leaderboardName(school, name))) await recordScores(this.app.hocuspocus, school, name, scores, `poll-${params.poll}`)
  }
}
