// Exams: the server opens and closes each exam on time from `meta.startsAt` and
// `meta.durationSec`, grades every student at close against the key (which no student can
// open), keeps the monitor's per-student view current, and publishes scores to a leaderboard.
// Deadlines live in the exam document, so a restarted server re-arms them from there.
import type * as Y from 'yjs'
import * as map from 'lib0/map'
import type { Homeroom } from '../../server/homeroom.ts'
import type { HomeroomContext } from '../../server/context.ts'
import { mapOf, record } from '../../docs-model/common.ts'
import { resolve } from '../../docs-model/registry.ts'
import { examBoard, examKeyName, examMonitorName, examName, type MonitorEntry } from '../../docs-model/surfaces/exam/surface.ts'
import { dueStatus, examSchedule, grade, laterStatus, monitorEntry, recordedStatus } from '../../docs-model/surfaces/exam/state.ts'
import type { DocRef } from '../../docs-model/types.ts'
import { namedScores, recordScores } from './leaderboard.ts'
import { chunks, Coalescer, contain, Deadlines, derive, documentsUnder, report, sameJson, Serial } from './runtime.ts'
import type { Change, Observer, Visit } from './registry.ts'
import { replay } from '../../server/history/replay.ts'

/** Monitor writes are coalesced over this window: well within the one second the monitor promises. */
const MONITOR_DELAY_MS = 150
/** Student documents graded at once when an exam closes. */
const GRADING_BATCH = 25

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
    map.setIfUndefined(this.sockets, ref.name, () => new Set<string>()).add(socketId)
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
        let status = recordedStatus(doc)
        const due = dueStatus(schedule, this.app.clock.now())
        if (due && laterStatus(due, status)) {
          await derive(this.app, this.name, name, (d) => {
            if (laterStatus(due, recordedStatus(d))) mapOf(d, 'meta').set('status', due)
          })
          status = due
          this.app.log.info({ doc: name, status }, 'exam status changed')
          if (due === 'open') this.app.eventsOut.publish({ type: 'exam.opened', id: `exam.opened:${name}`, school: ref.school, at: schedule.opensAt, data: { exam: name } })
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
    const board = await namedScores(store, school, scores)
    if (this.app.serving()) await recordScores(hocuspocus, school, examBoard(id), board, examBoard(id))
    await derive(this.app, this.name, exam.name, (d) => mapOf(d, 'meta').set('gradedAt', now))
    this.app.log.info({ doc: exam.name, students: scores.size }, 'exam graded')
    this.app.eventsOut.publish({ type: 'exam.closed', id: `exam.closed:${exam.name}`, school, at: now, data: { exam: exam.name, scores: Object.fromEntries(scores) } })
  }

  /** The time of a student's own submission is the server's: a client could backdate it. */
  private stampSubmission(ref: DocRef, doc: Y.Doc): void {
    const status = mapOf(doc, 'status')
    if (status.get('state') !== 'submitted' || status.has('submittedAt')) return
    void contain(this.app, 'exam.submitted', async () => {
      const at = this.app.clock.now()
      await derive(this.app, this.name, ref.name, (d) => {
        const current = mapOf(d, 'status')
        if (!current.has('submittedAt')) current.set('submittedAt', at)
      })
      const exam = examName(ref.school, ref.params.exam)
      this.app.eventsOut.publish({ type: 'exam.submitted', id: `exam.submitted:${ref.name}`, school: ref.school, at, data: { exam, user: ref.params.user } })
    })
  }

  /**
   * Queues the student's current view for the monitor; writes are coalesced per monitor.
   * `active`: the student (not the server's grading) caused this, so it counts as last seen.
   */
  private observeStudent(ref: DocRef, doc: Y.Doc, active: boolean): void {
    const monitor = examMonitorName(ref.school, ref.params.exam)
    const entries = map.setIfUndefined(this.pending, monitor, () => new Map<string, MonitorEntry>())
    const lastSeen = active ? this.app.clock.now() : (entries.get(ref.params.user)?.lastSeen ?? 0)
    entries.set(ref.params.user, monitorEntry(doc, lastSeen, this.sockets.has(ref.name)))
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
