// The typed clients of the exam family, on a Session: reads through state.ts, writes through
// surface.ts, each write checked against the rule the server applies.
import type { Handle, Session } from '../../client/session.ts'
import { ackAlert, answer, examMonitorName, examName, examStatus, examStudentName, reportEvent, submit, type ExamAlert, type ExamEventDetail, type ExamEventType, type ExamQuestion, type ExamStatus, type MonitorEntry } from './surface.ts'
import { answersOf, examSchedule, examTitle, isSubmitted, monitorAlerts, monitorStudents, questionsOf } from './state.ts'

/** A student's side of `s/exam/<id>`: the questions and their own answer sheet. */
export class ExamClient {
  readonly exam: Handle
  readonly sheet: Handle

  constructor(session: Session, school: string, id: string) {
    this.exam = session.open(examName(school, id))
    this.sheet = session.open(examStudentName(school, id, session.user.sub))
  }

  title(): string {
    return examTitle(this.exam.doc)
  }

  status(): ExamStatus {
    return examStatus(this.exam.doc)
  }

  questions(): ExamQuestion[] {
    return questionsOf(this.exam.doc)
  }

  answers(): Record<string, number> {
    return answersOf(this.sheet.doc)
  }

  /** Milliseconds until the exam closes by the server's clock (not the device's), or undefined without a closing time. */
  remainingMs(): number | undefined {
    const { closesAt } = examSchedule(this.exam.doc)
    return closesAt === undefined ? undefined : Math.max(0, closesAt - this.exam.session.now())
  }

  /** Students on the exam now, the session's user included: their presence, stamped by the server with who they are. */
  participants(): number {
    const students = new Set<string>()
    if (this.exam.session.user.role === 'student') students.add(this.exam.session.user.sub)
    if (!this.exam.provider?.awareness) return students.size
    for (const state of this.exam.provider.awareness.getStates().values()) {
      const user = state.user as { id?: unknown; role?: unknown } | undefined
      if (user?.role === 'student' && typeof user.id === 'string') students.add(user.id)
    }
    return students.size
  }

  submitted(): boolean {
    return isSubmitted(this.sheet.doc)
  }

  answer(question: number, choice: number): void {
    this.sheet.write('answers', (doc) => answer(doc, question, choice, this.sheet.session.now()))
  }

  /** Reports a proctoring event (append only); the server turns it into an alert on the monitor. */
  event(type: ExamEventType, detail?: ExamEventDetail): void {
    this.sheet.write('events', (doc) => reportEvent(doc, type, this.sheet.session.now(), detail))
  }

  submit(): void {
    this.sheet.write('status/state', submit)
  }
}

/** A proctor's or teacher's view of `s/exam/<id>/monitor`. */
export class MonitorClient {
  readonly handle: Handle

  constructor(session: Session, school: string, id: string) {
    this.handle = session.open(examMonitorName(school, id))
  }

  students(): Array<[string, MonitorEntry]> {
    return monitorStudents(this.handle.doc)
  }

  /** Alerts, newest first, with whether they were acknowledged. */
  alerts(): Array<ExamAlert & { id: string; acked: boolean }> {
    return monitorAlerts(this.handle.doc)
  }

  ack(alertId: string): void {
    this.handle.write(`acks/${alertId}`, (doc) => ackAlert(doc, alertId, this.handle.session.user.sub, this.handle.session.now()))
  }
}
