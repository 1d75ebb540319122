// Exams: the server opens and closes each exam on time from `meta.startsAt` and
// `meta.durationSec`, grades every student at close against the key (which no student can
// open), keeps the monitor's per-student view current, and publishes scores to a leaderboard.
// Deadlines live in the exam document, so a restarted server re-arms them from there.
import type * as Y from 'yjs'
import type { Homeroom } from '../../server/homeroom.ts'
import type { HomeroomContext } from '../../server/context.ts'
import { mapOf, record } from '../../docs-model/common.ts'
import { resolve } from '../../docs-model/registry.ts'
import { examName, type ExamStatus } from '../../docs-model/surfaces/exam.ts'
import type { DocRef } from '../../docs-model/types.ts'
import { recordScores, type Scores } from './leaderboard.ts'
import { toMillis } from '../../docs-model/common.ts'
import { chunks, Coalescer, contain, Deadlines, derive, documentsUnder, report, sameJson, Serial } from './runtime.ts'
import type { Change, Observer, Visit } from './registry.ts'
import { replay } from '../../server/history/replay.ts'

const ORDER: readonly ExamStatus[] = ['scheduled', 'open', 'closed']
/** Monitor writes are coalesced over this window: well within the one second the monitor promises. */
const MONITOR_DELAY_MS = 150
/** Student documents graded at once when an exam closes. */
const GRADING_BATCH = 25

export const examKeyName = (school: string, exam: string): string => `${school}/exam/${exam}/key`
export const examMonitorName = (school: string, exam: string): string => `${school}/exam/${exam}/monitor`
/** Each exam ranks its students on its own board, `<school>/leaderboard/exam-<id>`. */
export const examBoard = (exam: string): string => `exam-${exam}`

/** When an exam opens and closes, from its meta; undefined parts are not scheduled. */
export function examSchedule(doc: Y.Doc): { opensAt?: number; closesAt?: number } {
  const meta = mapOf(doc, 'meta')
  const opensAt = toMillis(meta.get('startsAt'))
  const duration = meta.get('durationSec')
  const closesAt = opensAt !== undefined && typeof duration === 'number' && Number.isFinite(duration) && duration > 0 ? opensAt + duration * 1000 : undefined
  return { opensAt, closesAt }
}

/** The status the schedule calls for at `now`, or undefined for an exam without a start. */
export function dueStatus(schedule: { opensAt?: number; closesAt?: number }, now: number): ExamStatus | undefined {
  if (schedule.opensAt === undefined) return undefined
  if (now < schedule.opensAt) return 'scheduled'
  if (schedule.closesAt === undefined || now < schedule.closesAt) return 'open'
  return 'closed'
}

const statusIn = (doc: Y.Doc): ExamStatus | undefined => {
  const status = mapOf(doc, 'meta').get('status')
  return ORDER.includes(status as ExamStatus) ? (status as ExamStatus) : undefined
}
const later = (a: ExamStatus, b: ExamStatus | undefined): boolean => b === undefined || ORDER.indexOf(a) > ORDER.indexOf(b)

/** One point per question whose answer equals the key. */
export function grade(answers: Y.Map<unknown>, key: Y.Map<unknown>): number {
  let score = 0
  for (const [question, correct] of key.entries()) if (typeof correct === 'number' && answers.get(question) === correct) score++
  return score
}

export interface MonitorEntry {
  answered: number
  current: number | null
  lastSeen: number
  state: 'in_progress' | 'submitted'
  online: boolean
  score?: number
}

/** The monitor's view of one student, derived from their document. */
export function monitorEntry(doc: Y.Doc, lastSeen: number, online: boolean): MonitorEntry {
  let answered = 0
  for (const choice of mapOf(doc, 'answers').values()) if (typeof choice === 'number' && Number.isInteger(choice) && choice >= 0) answered++
  const current = mapOf(doc, 'progress').get('current')
  const status = mapOf(doc, 'status')
  const score = status.get('score')
  return {
    answered,
    current: typeof current === 'number' && Number.isFinite(current) ? current : null,
    lastSeen,
    state: status.get('state') === 'submitted' ? 'submitted' : 'in_progress',
    online,
    ...(typeof score === 'number' && Number.isFinite(score) ? { score } : {}),
  }
}

/** Whether a connection to a student's exam document is that student's own. */
const ownStudentDocument = (ref: DocRef, context: HomeroomContext | undefined): boolean =>
  ref.surface === 'exam/student' && context?.user.sub === ref.params.user && context.ref.name === ref.name

export class ExamObserver implements Observer {
  readonly name = 'exam-observer'
  readonly surfaces = ['exam', 'exam/student', 'exam/key']
  private readonly app: Homeroom
  private readonly deadlines: Deadlines
  private readonly serial = new Serial()
  private readonly monitorWrites: Coalescer
  /** Monitor entries waiting to be written, per monitor document. */
  private readonly pending = new Map<string, Map<string, MonitorEntry>>()
  /** Sockets of each student connected to their own exam document. */
  private readonly sockets = new Map<string, Set<string>>()

  constructor(app: Homeroom) {
    this.app = app
    this.deadlines = new Deadlines(app.clock)
    this.monitorWrites = new Coalescer(MONITOR_DELAY_MS, (error) => report(app, 'exam.monitor', error))
  }

  start(): void {
    void contain(this.app, 'exam.scan', async () => {
      const { store, hocuspocus } = this.app
      const exams = await documentsUnder(store, hocuspocus.documents.keys(), { family: 'exam' }, (ref) => ref.surface === 'exam')
      for (const ref of exams) await this.review(ref.name)
    })
  }

  stop(): void {
    this.deadlines.stop()
    this.monitorWrites.close()
  }

  changed({ ref, doc, source }: Change): void {
    if (ref.surface === 'exam') void this.review(ref.name)
    else if (ref.surface === 'exam/student') {
      this.observeStudent(ref, doc, source !== 'server')
      this.stampSubmission(ref, doc)
    } else void this.review(examName(ref.school, ref.params.exam), { regrade: true })
  }

  connected({ ref, doc, socketId, context }: Visit): void {
    if (!ownStudentDocument(ref, context)) return
    const sockets = this.sockets.get(ref.name) ?? new Set()
    sockets.add(socketId)
    this.sockets.set(ref.name, sockets)
    this.observeStudent(ref, doc, true)
  }

  /** May fire twice for one socket: only the first removes it. */
  disconnected({ ref, doc, socketId, context }: Visit): void {
    const sockets = this.sockets.get(ref.name)
    if (!ownStudentDocument(ref, context) || !sockets?.delete(socketId)) return
    if (sockets.size === 0) this.sockets.delete(ref.name)
    this.observeStudent(ref, doc, true)
  }

  /** Brings the status in line with the schedule, grades a closed exam, and arms the next deadline. */
  private review(name: string, options: { regrade?: boolean } = {}): Promise<void> {
    return this.serial.run(name, () =>
      contain(this.app, 'exam.review', async () => {
        const ref = resolve(name).ref
        const doc = await this.app.peek(name)
        const schedule = examSchedule(doc)
        let status = statusIn(doc)
        const due = dueStatus(schedule, this.app.clock.now())
        if (due && later(due, status)) {
          await derive(this.app, this.name, name, (d) => {
            if (later(due, statusIn(d))) mapOf(d, 'meta').set('status', due)
          })
          status = due
          this.app.log.info({ doc: name, status }, 'exam status changed')
        }
        if (status === 'closed') {
          this.deadlines.clear(name)
          if (options.regrade || !mapOf(doc, 'meta').has('gradedAt')) await this.finish(ref)
          return
        }
        const next = status === 'open' ? schedule.closesAt : schedule.opensAt
        if (next === undefined) this.deadlines.clear(name)
        else this.deadlines.set(name, next, () => void this.review(name))
      }),
    )
  }

  /** Submits and grades every student document of a closed exam, then publishes the scores. */
  private async finish(exam: DocRef): Promise<void> {
    const { school } = exam
    const id = exam.params.exam
    const { hocuspocus, store } = this.app
    const key = mapOf(await this.app.peek(examKeyName(school, id)), 'key')
    const students = await documentsUnder(store, hocuspocus.documents.keys(), { school, family: 'exam' }, (ref) => ref.surface === 'exam/student' && ref.params.exam === id)
    const now = this.app.clock.now()
    const scores = new Map<string, number>()
    for (const batch of chunks(students, GRADING_BATCH)) {
      await Promise.all(
        batch.map(async (student) => {
          // Graded from storage, which holds every acknowledged answer: this instance's live copy
          // may lag behind answers given on another instance, and every instance grades alike.
          const stored = (await replay(store, student.name)).doc
          const score = grade(mapOf(stored, 'answers'), key)
          stored.destroy()
          await derive(this.app, this.name, student.name, (d) => {
            const status = mapOf(d, 'status')
            if (status.get('state') !== 'submitted') status.set('state', 'submitted')
            if (!status.has('submittedAt')) status.set('submittedAt', now)
            if (status.get('score') !== score) status.set('score', score)
            scores.set(student.params.user, score)
            // The registry does not hand this observer its own write: the monitor learns the score here.
            this.observeStudent(student, d, false)
          })
        }),
      )
    }
    const names = new Map((await store.roster(school)).map((m) => [m.id, m.name]))
    const board: Scores = {}
    for (const [user, score] of scores) board[user] = { name: names.get(user) ?? user, score }
    if (this.app.serving()) await recordScores(hocuspocus, school, examBoard(id), board, examBoard(id))
    await derive(this.app, this.name, exam.name, (d) => mapOf(d, 'meta').set('gradedAt', now))
    this.app.log.info({ doc: exam.name, students: scores.size }, 'exam graded')
  }

  /** The time of a student's own submission is the server's: a client could backdate it. */
  private stampSubmission(ref: DocRef, doc: Y.Doc): void {
    const status = mapOf(doc, 'status')
    if (status.get('state') !== 'submitted' || status.has('submittedAt')) return
    void contain(this.app, 'exam.submitted', () =>
      derive(this.app, this.name, ref.name, (d) => {
        const current = mapOf(d, 'status')
        if (!current.has('submittedAt')) current.set('submittedAt', this.app.clock.now())
      }),
    )
  }

  /**
   * Queues the student's current view for the monitor; writes are coalesced per monitor.
   * `active`: the student (not the server's grading) caused this, so it counts as last seen.
   */
  private observeStudent(ref: DocRef, doc: Y.Doc, active: boolean): void {
    const monitor = examMonitorName(ref.school, ref.params.exam)
    const entries = this.pending.get(monitor) ?? new Map<string, MonitorEntry>()
    const lastSeen = active ? this.app.clock.now() : (entries.get(ref.params.user)?.lastSeen ?? 0)
    entries.set(ref.params.user, monitorEntry(doc, lastSeen, this.sockets.has(ref.name)))
    this.pending.set(monitor, entries)
    this.monitorWrites.request(monitor, () =>
      contain(this.app, 'exam.monitor', async () => {
        const batch = this.pending.get(monitor)
        this.pending.delete(monitor)
        if (!batch) return
        await derive(this.app, this.name, monitor, (d) => {
          const students = mapOf(d, 'students')
          for (const [user, entry] of batch) {
            const before = record(students.get(user))
            const merged = { ...entry, lastSeen: Math.max(entry.lastSeen, Number(before?.lastSeen) || 0) }
            if (!sameJson(before, merged)) students.set(user, merged)
          }
        })
      }),
    )
  }
}
