// Polls and quizzes: tallies derived from the per-user ballot documents into the poll document,
// and the close at `closesAt`. Ballots stay in their own documents (anonymous ballots are
// readable by their voter only); the poll document only ever shows counts, plus, for quizzes
// that are not anonymous, each voter's points after the close.
//
// Every write here is a pure function of stored state (ballots as journaled, at `closesAt` for
// the close), so re-running it on any instance, or after a restart, writes the same values or
// nothing. That is why the close needs no claim: a claim taken by an instance that then died
// would lose the close, while a second identical write changes nothing.
import type { afterLoadDocumentPayload, Extension, onChangePayload } from '@hocuspocus/server'
import type { Homeroom } from '../../server/app.ts'
import { resolve } from '../../docs-model/registry.ts'
import { mapOf } from '../../docs-model/common.ts'
import { ballotVoter, isChoice, pollClosed, pollKeyName, pollMeta, pollName, type PollMeta } from '../../docs-model/surfaces/poll/surface.ts'
import { quizPoints, tallies } from '../../docs-model/surfaces/poll/state.ts'
import { Coalescer, readDoc, reportError, syncMap } from './support.ts'
import type { Scores } from '../../docs-model/surfaces/leaderboard/surface.ts'
import { recordScores } from './leaderboard.ts'

/** setTimeout's limit; later deadlines are re-armed when this one fires. */
const MAX_DELAY_MS = 2 ** 31 - 1
/** Votes arriving within this window are counted in one pass. */
const RECOUNT_DELAY_MS = 30
const CLOSE_RETRY_MS = 2000

export class PollObserver implements Extension {
  readonly extensionName = 'poll-observer'
  private readonly app: Homeroom
  private readonly recounts: Coalescer
  /** Close timers per poll document, with the deadline each was armed for. */
  private readonly timers = new Map<string, { closesAt: number; timer: NodeJS.Timeout }>()

  constructor(app: Homeroom) {
    this.app = app
    this.recounts = new Coalescer(RECOUNT_DELAY_MS, (error) => reportError(app, 'poll-observer', error))
  }

  /** Re-arms the deadline of every poll not yet closed, so a restart in between loses no close. */
  async onListen(): Promise<void> {
    void this.rearmAll().catch((error) => reportError(this.app, 'poll-observer', error))
  }

  async onDestroy(): Promise<void> {
    this.recounts.close()
    for (const { timer } of this.timers.values()) clearTimeout(timer)
    this.timers.clear()
  }

  async afterLoadDocument({ documentName, document }: afterLoadDocumentPayload): Promise<void> {
    try {
      if (surfaceOf(documentName) === 'poll') this.arm(documentName, pollMeta(document), mapOf(document, 'results').get('closedAt'))
    } catch (error) {
      reportError(this.app, 'poll-observer', error, documentName)
    }
  }

  async onChange({ documentName, document }: onChangePayload): Promise<void> {
    try {
      const surface = surfaceOf(documentName)
      if (surface !== 'poll' && surface !== 'poll/ballot' && surface !== 'poll/key') return
      const { school, params } = resolve(documentName).ref
      const poll = pollName(school, params.poll)
      if (surface === 'poll') this.arm(poll, pollMeta(document), mapOf(document, 'results').get('closedAt'))
      this.recounts.request(poll, () => this.derive(poll))
    } catch (error) {
      reportError(this.app, 'poll-observer', error, documentName)
    }
  }

  private async rearmAll(): Promise<void> {
    for (const { name } of await this.app.store.listDocuments({ surface: 'poll' })) {
      if (surfaceOf(name) !== 'poll') continue
      const { meta, closedAt } = await readDoc(this.app, name, (doc) => ({ meta: pollMeta(doc), closedAt: mapOf(doc, 'results').get('closedAt') }))
      this.arm(name, meta, closedAt)
    }
  }

  /** Schedules the close of a poll with a deadline it has not been closed at yet. */
  private arm(poll: string, meta: PollMeta, closedAt: unknown): void {
    const armed = this.timers.get(poll)
    if (armed && armed.closesAt === meta.closesAt) return
    if (armed) clearTimeout(armed.timer)
    this.timers.delete(poll)
    if (meta.closesAt === undefined || closedAt === meta.closesAt) return
    this.schedule(poll, meta.closesAt, meta.closesAt)
  }

  private schedule(poll: string, closesAt: number, at: number): void {
    const timer = setTimeout(() => {
      this.timers.delete(poll)
      this.recounts.request(poll, () => this.close(poll, closesAt))
    }, Math.max(0, Math.min(MAX_DELAY_MS, at - Date.now())))
    timer.unref()
    this.timers.set(poll, { closesAt, timer })
  }

  /** The derivation due at the deadline; when it fails (storage briefly unavailable) it is tried again. */
  private async close(poll: string, closesAt: number): Promise<void> {
    try {
      await this.derive(poll)
    } catch (error) {
      if (!this.timers.has(poll)) this.schedule(poll, closesAt, Date.now() + CLOSE_RETRY_MS)
      throw error
    }
  }

  /** Live tallies while the poll is open; final tallies and results once `closesAt` has passed. */
  private async derive(poll: string): Promise<void> {
    const meta = await readDoc(this.app, poll, pollMeta)
    if (meta.options.length === 0) return
    if (!pollClosed(meta)) {
      // A timer may fire a millisecond early; arming again is a no-op while one is pending.
      this.arm(poll, meta, undefined)
      await syncMap(this.app, poll, 'tallies', tallies(await this.ballots(poll, meta), meta), { prune: true })
      return
    }
    const votes = await this.ballots(poll, meta, meta.closesAt)
    await syncMap(this.app, poll, 'tallies', tallies(votes, meta), { prune: true })
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
    await syncMap(this.app, poll, 'results', results, { prune: true })
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
    const names = new Map((await this.app.store.roster(school)).map((m) => [m.id, m.name]))
    const scores: Scores = {}
    for (const [user, score] of Object.entries(points)) scores[user] = { name: names.get(user) ?? user, score }
    await recordScores(this.app.hocuspocus, school, meta.leaderboard ?? params.poll, scores, `poll-${params.poll}`)
  }
}

function surfaceOf(name: string): string | undefined {
  try {
    return resolve(name).surface.key
  } catch {
    return undefined
  }
}
