// Proctoring: students' `events` become alerts in the exam's monitor, one per student and event
// type (`<user>:<type>`), with a severity by the rules of docs-model/surfaces/exam/state.ts and a `count` of repeats. The
// alerts are recomputed from the whole event list, so the same update seen twice (or by two
// instances) writes the same values. New high and critical alerts also reach the inboxes of the
// exam's teachers and proctors, once (a fan-out claim in the store).
import type * as Y from 'yjs'
import type { Homeroom } from '../../server/homeroom.ts'
import * as map from 'lib0/map'
import { arrayOf, mapOf } from '../../docs-model/common.ts'
import { examMonitorName, examName, type ExamAlert } from '../../docs-model/surfaces/exam/surface.ts'
import { alertsFor, notifiesStaff } from '../../docs-model/surfaces/exam/state.ts'
import type { DocRef } from '../../docs-model/types.ts'
import { Coalescer, contain, derive, ignoredCounter, report, sameJson } from './runtime.ts'
import type { FanOuts } from './fan-out.ts'
import type { Change, Observer } from './registry.ts'

const WRITE_DELAY_MS = 100
/** A write of alerts that failed is tried again this much later. */
const WRITE_RETRY_MS = 1000

export class ProctoringObserver implements Observer {
  readonly name = 'proctoring-observer'
  readonly surfaces = ['exam/student']
  private readonly app: Homeroom
  private readonly writes: Coalescer
  /** Per student document: events already turned into alerts, and how many of them were malformed. */
  private readonly seen = new Map<string, { events: number; ignored: number }>()
  /** Alerts waiting to be written, per monitor document. */
  private readonly pending = new Map<string, Map<string, ExamAlert>>()
  /** Inbox claims this process already settled, so repeats skip the store. */
  private readonly claimed = new Set<string>()

  private readonly fanOuts: FanOuts

  constructor(app: Homeroom, fanOuts: FanOuts) {
    this.app = app
    this.fanOuts = fanOuts
    this.writes = new Coalescer(WRITE_DELAY_MS, (error) => report(app, 'proctoring.write', error))
  }

  changed({ ref, doc }: Change): void {
    const events = arrayOf(doc, 'events')
    const before = this.seen.get(ref.name)
    if (before?.events === events.length) return
    const { alerts, ignored } = alertsFor(ref.params.user, events.toArray())
    if (ignored > (before?.ignored ?? 0)) ignoredCounter(this.app.metrics).inc({ surface: 'exam/student', reason: 'bad-event' }, ignored - (before?.ignored ?? 0))
    this.seen.set(ref.name, { events: events.length, ignored })
    if (alerts.size > 0) this.queue(ref, alerts)
  }

  /** A sheet loaded (again): alerts its events call for that a dying instance left unwritten are written now (ids make a repeat harmless). */
  loaded(ref: DocRef, doc: Y.Doc): void {
    this.changed({ ref, doc, source: 'server' })
  }

  unloaded(ref: DocRef): void {
    this.seen.delete(ref.name)
  }

  stop(): void {
    this.writes.close()
  }

  private queue(student: DocRef, alerts: Map<string, ExamAlert>): void {
    const monitor = examMonitorName(student.school, student.params.exam)
    const waiting = map.setIfUndefined(this.pending, monitor, () => new Map<string, ExamAlert>())
    for (const [id, alert] of alerts) waiting.set(id, alert)
    this.requestWrite(student, monitor)
  }

  private requestWrite(student: DocRef, monitor: string): void {
    this.writes.request(monitor, () => contain(this.app, 'proctoring.write', () => this.write(student, monitor)))
  }

  /**
   * Writes the alerts waiting for `monitor`. A write that fails (the store away) is put back,
   * unless newer alerts of the same id came meanwhile, and made a moment later: the events behind
   * it were seen once.
   */
  private async write(student: DocRef, monitor: string): Promise<void> {
    const batch = this.pending.get(monitor)
    this.pending.delete(monitor)
    if (!batch) return
    try {
      await derive(this.app, this.name, monitor, (doc) => {
        const map = mapOf(doc, 'alerts')
        for (const [id, alert] of batch) if (!sameJson(map.get(id), alert)) map.set(id, alert)
      })
    } catch (error) {
      const waiting = map.setIfUndefined(this.pending, monitor, () => new Map<string, ExamAlert>())
      for (const [id, alert] of batch) if (!waiting.has(id)) waiting.set(id, alert)
      setTimeout(() => this.app.serving() && this.requestWrite(student, monitor), WRITE_RETRY_MS).unref()
      throw error
    }
    for (const [id, alert] of batch) {
      // One event per alert and severity: a repeat only raises `count`.
      this.app.eventsOut.publish({ type: 'proctoring.alert', id: `proctoring.alert:${monitor}:${id}:${alert.severity}`, school: student.school, data: { exam: examName(student.school, student.params.exam), monitor, alert: id, ...alert } })
      if (notifiesStaff(alert.severity)) await this.notify(student, id, alert)
    }
  }

  /** Sends one inbox item per alert and severity to the exam's teachers and proctors. */
  private async notify(student: DocRef, id: string, alert: ExamAlert): Promise<void> {
    const { school } = student
    const exam = student.params.exam
    const claim = `proctoring:${examMonitorName(school, exam)}:${id}:${alert.severity}`
    if (this.claimed.has(claim)) return
    this.claimed.add(claim)
    const meta = mapOf(await this.app.peek(examName(school, exam)), 'meta')
    const title = typeof meta.get('title') === 'string' ? String(meta.get('title')) : exam
    const examClass = meta.get('class')
    const staff = (await this.app.directory.members(school))
      .filter((m) => (m.role === 'teacher' || m.role === 'proctor') && (typeof examClass !== 'string' || (m.classes ?? []).includes(examClass)))
      .map((m) => m.id)
    await this.fanOuts.run(claim, {
      school,
      users: staff,
      id: `exam:${exam}:alert:${id}:${alert.severity}`,
      item: {
        type: 'proctoring',
        title: `${alert.severity === 'critical' ? 'Critical' : 'High'} proctoring alert: ${alert.user}`,
        body: `${alert.user}: ${alert.type.replace('_', ' ')} (${alert.count}×) in exam "${title}"`,
        priority: alert.severity === 'critical' ? 'urgent' : 'high',
        at: this.app.clock.now(),
        data: { exam: examName(school, exam), monitor: examMonitorName(school, exam), alert: id, ...alert },
      },
    })
  }
}
