// Exams: the server opens and closes each exam on time from `meta.startsAt` and
// `meta.durationSec`, grades every student at close against the key (which no student can
// open), keeps the monitor's per-student view current, and publishes scores to a leaderboard.
// Deadlines live in the exam document, so a restarted server re-arms them from there.
import type { connectedPayload, Extension, onChangePayload, onDisconnectPayload } from '@hocuspocus/server'
import type * as Y from 'yjs'
import type { Homeroom } from '../../server/app.ts'
import { contextOf } from '../../server/context.ts'
import { mapOf, record } from '../../docs-model/common.ts'
import { examBoard, examKeyName, examMonitorName, examName, type MonitorEntry } from '../../docs-model/surfaces/exam/surface.ts'
import { dueStatus, examSchedule, grade, laterStatus, monitorEntry, recordedStatus } from '../../docs-model/surfaces/exam/state.ts'
import type { DocRef } from '../../docs-model/types.ts'
import type { Scores } from '../../docs-model/surfaces/leaderboard/surface.ts'
import { recordScores } from './leaderboard.ts'
import { chunks, contain, Deadlines, derive, documentsUnder, fromServer, refOf, sameJson, Serial, serving } from './runtime.ts'
import { Coalescer, reportError } from './support.ts'
import { replay } from '../../server/store/replay.ts'

/** Monitor writes are coalesced over this window: well within the one second the monitor promises. */
const MONITOR_DELAY_MS = 150
/** Student documents graded at once when an exam closes. */
const GRADING_BATCH = 25

export class ExamObserver implements Extension {
  readonly extensionName = 'exam-observer'
  private readonly app: Homeroom
  private readonly deadlines = new Deadlines()
  private readonly serial = new Serial()
  private readonly monitorWrites = new Coalescer(MONITOR_DELAY_MS, (error) => reportError(this.app, 'exam.monitor', error))
  /** Monitor entries waiting to be written, per monitor document. */
  private readonly pending = new Map<string, Map<string, MonitorEntry>>()
  /** Sockets of each student connected to their own exam document. */
  private readonly sockets = new Map<string, Set<string>>()

  constructor(app: Homeroom) {
    this.app = app
  }

  async onListen(): Promise<void> {
    void contain(this.app, 'exam.scan', async () => {
      const { store, hocuspocus } = this.app
      const exams = await documentsUnder(store, hocuspocus.documents.keys(), { surface: 'exam' }, (ref) => ref.surface === 'exam')
      for (const ref of exams) await this.review(ref.name)
    })
  }

  async onChange({ documentName, document, transactionOrigin }: onChangePayload): Promise<void> {
    await contain(this.app, 'exam.change', () => {
      const ref = refOf(documentName)
      if (ref?.surface === 'exam') void this.review(documentName)
      else if (ref?.surface === 'exam/student') {
        this.observeStudent(ref, document, !fromServer(transactionOrigin))
        this.stampSubmission(ref, document)
      }
      else if (ref?.surface === 'exam/key') void this.review(examName(ref.school, ref.params.exam), { regrade: true })
    })
  }

  async connected({ documentName, context, socketId }: connectedPayload): Promise<void> {
    await contain(this.app, 'exam.connected', () => {
      const ref = this.ownStudentDocument(documentName, context)
      if (!ref) return
      const sockets = this.sockets.get(documentName) ?? new Set()
      sockets.add(socketId)
      this.sockets.set(documentName, sockets)
      const document = this.app.hocuspocus.documents.get(documentName)
      if (document) this.observeStudent(ref, document, true)
    })
  }

  /** May fire twice for one socket: only the first removes it. */
  async onDisconnect({ documentName, context, socketId, document }: onDisconnectPayload): Promise<void> {
    await contain(this.app, 'exam.disconnect', () => {
      const ref = this.ownStudentDocument(documentName, context)
      const sockets = this.sockets.get(documentName)
      if (!ref || !sockets?.delete(socketId)) return
      if (sockets.size === 0) this.sockets.delete(documentName)
      this.observeStudent(ref, document, true)
    })
  }

  async onDestroy(): Promise<void> {
    this.deadlines.stop()
    this.monitorWrites.close()
  }

  /** The ref of a student's exam document when the connection is that student's own. */
  private ownStudentDocument(documentName: string, context: unknown): DocRef | undefined {
    const ctx = contextOf(context)
    return ctx?.ref.surface === 'exam/student' && ctx.user.sub === ctx.ref.params.user && ctx.ref.name === documentName ? ctx.ref : undefined
  }

  /** Brings the status in line with the schedule, grades a closed exam, and arms the next deadline. */
  private review(name: string, options: { regrade?: boolean } = {}): Promise<void> {
    return this.serial.run(name, () =>
      contain(this.app, 'exam.review', async () => {
        const ref = refOf(name)
        if (!ref) return
        const doc = await this.app.peek(name)
        const schedule = examSchedule(doc)
        let status = recordedStatus(doc)
        const due = dueStatus(schedule, Date.now())
        if (due && laterStatus(due, status)) {
          await derive(this.app, name, (d) => {
            if (laterStatus(due, recordedStatus(d))) mapOf(d, 'meta').set('status', due)
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
    const students = await documentsUnder(store, hocuspocus.documents.keys(), { school, surface: 'exam' }, (ref) => ref.surface === 'exam/student' && ref.params.exam === id)
    const now = Date.now()
    const scores = new Map<string, number>()
    for (const batch of chunks(students, GRADING_BATCH)) {
      await Promise.all(
        batch.map(async (student) => {
          // Graded from storage, which holds every acknowledged answer: this instance's live copy
          // may lag behind answers given on another instance, and every instance grades alike.
          const stored = (await replay(store, student.name)).doc
          const score = grade(mapOf(stored, 'answers'), key)
          stored.destroy()
          await derive(this.app, student.name, (d) => {
            const status = mapOf(d, 'status')
            if (status.get('state') !== 'submitted') status.set('state', 'submitted')
            if (!status.has('submittedAt')) status.set('submittedAt', now)
            if (status.get('score') !== score) status.set('score', score)
            scores.set(student.params.user, score)
          })
        }),
      )
    }
    const names = new Map((await store.roster(school)).map((m) => [m.id, m.name]))
    const board: Scores = {}
    for (const [user, score] of scores) board[user] = { name: names.get(user) ?? user, score }
    if (serving(this.app)) await recordScores(hocuspocus, school, examBoard(id), board, examBoard(id))
    await derive(this.app, exam.name, (d) => mapOf(d, 'meta').set('gradedAt', now))
    this.app.log.info({ doc: exam.name, students: scores.size }, 'exam graded')
  }

  /** The time of a student's own submission is the server's: a client could backdate it. */
  private stampSubmission(ref: DocRef, doc: Y.Doc): void {
    const status = mapOf(doc, 'status')
    if (status.get('state') !== 'submitted' || status.has('submittedAt')) return
    void contain(this.app, 'exam.submitted', () =>
      derive(this.app, ref.name, (d) => {
        const current = mapOf(d, 'status')
        if (!current.has('submittedAt')) current.set('submittedAt', Date.now())
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
    const lastSeen = active ? Date.now() : (entries.get(ref.params.user)?.lastSeen ?? 0)
    entries.set(ref.params.user, monitorEntry(doc, lastSeen, this.sockets.has(ref.name)))
    this.pending.set(monitor, entries)
    this.monitorWrites.request(monitor, () =>
      contain(this.app, 'exam.monitor', async () => {
        const batch = this.pending.get(monitor)
        this.pending.delete(monitor)
        if (!batch) return
        await derive(this.app, monitor, (d) => {
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
