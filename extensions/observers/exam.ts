// Exams: the server opens and closes each exam on time from `meta.startsAt` and
// `meta.durationSec`, grades every student at close against the key (which no student can
// open), keeps the monitor's per-student view current, writes each student's grade into
// `s/exam/<id>/result/<user>` (the student, teachers and the student's parents read it), and
// publishes scores to a leaderboard only when the exam's meta says `leaderboard: true`.
// Deadlines live in the exam document, so a restarted server re-arms them from there.
import type * as Y from 'yjs'
import * as map from 'lib0/map'
import type { Homeroom } from '../../server/homeroom.ts'
import type { HomeroomContext } from '../../server/context.ts'
import { mapOf, record } from '../../docs-model/common.ts'
import { resolve } from '../../docs-model/registry.ts'
import { examBoard, examKeyName, examLeaderboard, examMonitorName, examName, examResultName, examStudentName, type MonitorEntry } from '../../docs-model/surfaces/exam/surface.ts'
import { dueStatus, examSchedule, grade, laterStatus, monitorEntry, recordedStatus } from '../../docs-model/surfaces/exam/state.ts'
import type { DocRef } from '../../docs-model/types.ts'
import { namedScores, recordScores } from './leaderboard.ts'
import { chunks, Coalescer, contain, Deadlines, derive, documentsUnder, onlineRecordsOf, readDoc, report, sameJson, Serial, syncMap, writerTurn, persist } from './runtime.ts'
import { ONLINE_RENEW_MS } from '../redis/online.ts'
import { leaderboardName } from '../../docs-model/surfaces/leaderboard/surface.ts'
import type { Change, Observer, Visit } from './registry.ts'
import { replay } from '../../server/history/replay.ts'

/** Monitor writes are coalesced over this window: well within the one second the monitor promises. */
const MONITOR_DELAY_MS = 150
/** A monitor write that failed is tried again this much later. */
const MONITOR_RETRY_MS = 1000
/** Student documents graded at once when an exam closes. */
const GRADING_BATCH = 25
/** Sheets whose online records ran out that one sweep takes on. */
const EXPIRED_BATCH = 50

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
  /**
   * Connections (their contexts) of each student to their own exam document on this instance. Not
   * sockets: a session-aware provider reopening the sheet on its socket connects again before the
   * old connection's disconnect comes.
   */
  private readonly connections = new Map<string, Set<HomeroomContext>>()
  /** Renews this instance's online records and takes on those that ran out elsewhere. */
  private onlineTimer?: NodeJS.Timeout

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
    const records = onlineRecordsOf(this.app)
    if (records) this.onlineTimer = setInterval(() => void contain(this.app, 'exam.online', () => this.keepOnline()), ONLINE_RENEW_MS).unref()
  }

  stop(): void {
    clearInterval(this.onlineTimer)
    this.deadlines.stop()
    this.monitorWrites.close()
  }

  /**
   * Renews the online records of the sheets this instance's students hold open, and re-derives
   * the monitor entry of each sheet whose record (another instance's, dead or stalled) ran out:
   * that instance will not say its student left. A renewal that finds its own record ran out
   * (this instance stalled, or Redis was away) re-derives too: another may have written the
   * student offline meanwhile.
   */
  private async keepOnline(): Promise<void> {
    const records = onlineRecordsOf(this.app)!
    // Redis away: nothing to renew, and the records' expiry waits for its return.
    if (this.app.redis?.status !== 'ready') return
    for (const sheet of [...this.connections.keys()]) {
      const doc = this.app.hocuspocus.documents.get(sheet)
      if (!(await records.mark(sheet, true)).wasLive && doc) this.observeStudent(resolve(sheet).ref, doc, false)
    }
    for (const sheet of await records.expired(EXPIRED_BATCH)) {
      const ref = resolve(sheet).ref
      if (ref.surface === 'exam/student') await readDoc(this.app, sheet, (doc) => this.observeStudent(ref, doc, false))
    }
  }

  /**
   * Whether the student of `sheet` is connected to it on any instance, recording first whether
   * they are on this one. Without Redis (or while it is away) this instance's own connections are
   * all it can know.
   */
  private async online(sheet: string): Promise<boolean> {
    const here = this.connections.has(sheet)
    const records = onlineRecordsOf(this.app)
    if (!records) return here
    try {
      return (await records.mark(sheet, here)).online
    } catch {
      return here
    }
  }

  changed({ ref, doc, source }: Change): void {
    if (ref.surface === 'exam') void this.review(ref.name)
    else if (ref.surface === 'exam/student') {
      this.observeStudent(ref, doc, source !== 'server')
      this.followSubmission(ref, doc)
    } else void this.review(examName(ref.school, ref.params.exam), { regrade: true })
  }

  /**
   * A sheet loaded (again): what a change may have left underived when the instance that saw it
   * died (its student came back elsewhere) is derived now: the submission, the monitor's view.
   */
  loaded(ref: DocRef, doc: Y.Doc): void {
    if (ref.surface !== 'exam/student') return
    this.observeStudent(ref, doc, false)
    // Also when the sheet is stamped already: the instance that stamped it may have died before grading.
    this.followSubmission(ref, doc, true)
  }

  connected({ ref, doc, context }: Visit): void {
    if (!ownStudentDocument(ref, context)) return
    map.setIfUndefined(this.connections, ref.name, () => new Set<HomeroomContext>()).add(context!)
    this.observeStudent(ref, doc, true)
  }

  /** May fire twice for one connection: only the first removes it. */
  disconnected({ ref, doc, context }: Visit): void {
    const connections = this.connections.get(ref.name)
    if (!ownStudentDocument(ref, context) || !connections?.delete(context!)) return
    if (connections.size === 0) this.connections.delete(ref.name)
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
          const closedAt = await this.closedAt(name, schedule)
          if (options.regrade || !mapOf(doc, 'meta').has('gradedAt')) await this.finish(ref, closedAt)
          return
        }
        const next = status === 'open' ? schedule.closesAt : schedule.opensAt
        if (next === undefined) this.deadlines.clear(name)
        else this.deadlines.set(name, next, () => void this.review(name))
      }),
    )
  }

  /**
   * When the exam closed, recorded once in `meta.closedAt`: its deadline when that has passed (also
   * when the server was down then), else now (a teacher closed it early).
   */
  private async closedAt(name: string, schedule: { closesAt?: number }): Promise<number> {
    const now = this.app.clock.now()
    const at = schedule.closesAt !== undefined && schedule.closesAt <= now ? schedule.closesAt : now
    let closedAt = at
    await derive(this.app, this.name, name, (d) => {
      const meta = mapOf(d, 'meta')
      const recorded = meta.get('closedAt')
      if (typeof recorded === 'number') closedAt = recorded
      else meta.set('closedAt', at)
    })
    return closedAt
  }

  /**
   * Submits and grades every student document of a closed exam, then publishes the scores (on a
   * leaderboard only when the exam's meta turns it on). A sheet submitted by the close is dated
   * `closedAt`, the deadline, never the time grading runs.
   */
  private async finish(exam: DocRef, closedAt: number): Promise<void> {
    const { school } = exam
    const id = exam.params.exam
    const { hocuspocus, store } = this.app
    const key = mapOf(await this.app.peek(examKeyName(school, id)), 'key')
    const students = await documentsUnder(store, hocuspocus.documents.keys(), { school, family: 'exam' }, (ref) => ref.surface === 'exam/student' && ref.params.exam === id)
    const scores = new Map<string, number>()
    for (const batch of chunks(students, GRADING_BATCH)) {
      await Promise.all(
        batch.map(async (student) => {
          let submittedAt = closedAt
          await derive(this.app, this.name, student.name, (d) => {
            const status = mapOf(d, 'status')
            if (status.get('state') !== 'submitted') status.set('state', 'submitted')
            if (!status.has('submittedAt')) status.set('submittedAt', closedAt)
            submittedAt = status.get('submittedAt') as number
            // The registry does not hand this observer its own write: the monitor learns the submission here.
            this.observeStudent(student, d, false)
          })
          scores.set(student.params.user, await this.grade(student, key, submittedAt))
        }),
      )
    }
    if (examLeaderboard(await this.app.peek(exam.name))) {
      const board = await namedScores(store, school, scores)
      if (await writerTurn(this.app, leaderboardName(school, examBoard(id)))) await recordScores(hocuspocus, school, examBoard(id), board, examBoard(id))
    }
    await derive(this.app, this.name, exam.name, (d) => mapOf(d, 'meta').set('gradedAt', this.app.clock.now()))
    this.app.log.info({ doc: exam.name, students: scores.size }, 'exam graded')
    this.app.eventsOut.publish({ type: 'exam.closed', id: `exam.closed:${exam.name}`, school, at: closedAt, data: { exam: exam.name, scores: Object.fromEntries(scores) } })
  }

  /**
   * Grades one sheet against the key into its result document. From storage, which holds every
   * acknowledged answer: this instance's live copy may lag behind answers given on another
   * instance, and every instance grades alike.
   */
  private async grade(student: DocRef, key: Y.Map<unknown>, submittedAt: number): Promise<number> {
    const stored = (await replay(this.app.store, student.name)).doc
    const score = grade(mapOf(stored, 'answers'), key)
    stored.destroy()
    const result = examResultName(student.school, student.params.exam, student.params.user)
    await syncMap(this.app, this.name, result, 'result', { score, of: key.size, submittedAt }, { prune: true })
    return score
  }

  /**
   * A student's own submission: the server stamps its time (a client could backdate it) and grades
   * it at once. A sheet a teacher reopened loses its submission time and grade until submitted again.
   */
  private followSubmission(ref: DocRef, doc: Y.Doc, again = false): void {
    const status = mapOf(doc, 'status')
    const submitted = status.get('state') === 'submitted'
    if (submitted === status.has('submittedAt') && !(again && submitted)) return
    void persist(this.app, 'exam.submission', () =>
      this.serial.run(ref.name, async () => {
        let submittedAt: number | undefined
        let stamped = false
        await derive(this.app, this.name, ref.name, (d) => {
          const current = mapOf(d, 'status')
          if (current.get('state') === 'submitted') {
            if (!current.has('submittedAt')) {
              current.set('submittedAt', this.app.clock.now())
              stamped = true
            }
            submittedAt = current.get('submittedAt') as number
          } else if (current.has('submittedAt')) {
            current.delete('submittedAt')
            current.set('reopenedAt', this.app.clock.now())
          }
        })
        // Published again when done again: its id makes the repeat harmless.
        if (stamped || (again && submittedAt !== undefined)) {
          const exam = examName(ref.school, ref.params.exam)
          this.app.eventsOut.publish({ type: 'exam.submitted', id: `exam.submitted:${ref.name}`, school: ref.school, at: submittedAt!, data: { exam, user: ref.params.user } })
        }
        const result = examResultName(ref.school, ref.params.exam, ref.params.user)
        if (submittedAt === undefined) await syncMap(this.app, this.name, result, 'result', {}, { prune: true })
        else await this.grade(ref, mapOf(await this.app.peek(examKeyName(ref.school, ref.params.exam)), 'key'), submittedAt)
      }),
    )
  }

  /**
   * Queues the student's current view for the monitor; writes are coalesced per monitor. `online`
   * is asked for once the writer lease is held, just before the write, so that a value found
   * before a pause is not written after it.
   * `active`: the student (not the server's grading) caused this, so it counts as last seen.
   */
  private observeStudent(ref: DocRef, doc: Y.Doc, active: boolean): void {
    const monitor = examMonitorName(ref.school, ref.params.exam)
    const entries = map.setIfUndefined(this.pending, monitor, () => new Map<string, MonitorEntry>())
    const lastSeen = active ? this.app.clock.now() : (entries.get(ref.params.user)?.lastSeen ?? 0)
    entries.set(ref.params.user, monitorEntry(doc, lastSeen, this.connections.has(ref.name)))
    this.requestMonitorWrite(ref.school, ref.params.exam)
  }

  private requestMonitorWrite(school: string, exam: string): void {
    const monitor = examMonitorName(school, exam)
    this.monitorWrites.request(monitor, () => contain(this.app, 'exam.monitor', () => this.writeMonitor(school, exam)))
  }

  /**
   * Writes the monitor entries waiting for `exam`. One that fails (the store or the lease away) is
   * put back, unless a newer one for its student came meanwhile, and written a moment later: a
   * student leaving comes once, and its entry must not be lost to a passing outage.
   */
  private async writeMonitor(school: string, exam: string): Promise<void> {
    const monitor = examMonitorName(school, exam)
    const batch = this.pending.get(monitor)
    this.pending.delete(monitor)
    if (!batch) return
    try {
      if (!(await writerTurn(this.app, monitor))) return
      for (const [user, entry] of batch) entry.online = await this.online(examStudentName(school, exam, user))
      await derive(this.app, this.name, monitor, (d) => {
        const students = mapOf(d, 'students')
        for (const [user, entry] of batch) {
          const before = record(students.get(user))
          const merged = { ...entry, lastSeen: Math.max(entry.lastSeen, Number(before?.lastSeen) || 0) }
          if (!sameJson(before, merged)) students.set(user, merged)
        }
      })
    } catch (error) {
      const waiting = map.setIfUndefined(this.pending, monitor, () => new Map<string, MonitorEntry>())
      for (const [user, entry] of batch) if (!waiting.has(user)) waiting.set(user, entry)
      setTimeout(() => this.app.serving() && this.requestMonitorWrite(school, exam), MONITOR_RETRY_MS).unref()
      throw error
    }
  }
}
