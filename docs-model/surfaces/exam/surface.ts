// The exam family: `s/exam/<id>`, its key, each student's sheet and the proctors' monitor;
// their names, value shapes, the readers the rules consult, and the writes clients make.
import { z } from 'zod'
import { decodeLayout, isLearnerOrStaff, mapOf, openRecord, shortText, time, userId } from '../../common.ts'
import { anyOf, named, roles, server } from '../../who.ts'
import type { Identity, Surface, WriteContext } from '../../types.ts'
import type * as Y from 'yjs'

export const examName = (school: string, exam: string): string => `${school}/exam/${exam}`
export const examKeyName = (school: string, exam: string): string => `${examName(school, exam)}/key`
export const examStudentName = (school: string, exam: string, user: string): string => `${examName(school, exam)}/student/${user}`
export const examMonitorName = (school: string, exam: string): string => `${examName(school, exam)}/monitor`
export const examResultName = (school: string, exam: string, user: string): string => `${examName(school, exam)}/result/${user}`
/** An exam whose meta says `leaderboard: true` ranks its students on its own board, `<school>/leaderboard/exam-<id>`. */
export const examBoard = (exam: string): string => `exam-${exam}`

export const EXAM_EVENT_TYPES = ['tab_switch', 'face_missing', 'multiple_faces', 'copy_paste', 'fullscreen_exit'] as const
export type ExamEventType = (typeof EXAM_EVENT_TYPES)[number]
/** In the order an exam goes through them. */
export const EXAM_STATUSES = ['scheduled', 'open', 'closed'] as const
export type ExamStatus = (typeof EXAM_STATUSES)[number]
/** A student's sheet: being worked on, or handed in. */
export const SHEET_STATES = ['in_progress', 'submitted'] as const
/** Lowest first. */
export const ALERT_SEVERITIES = ['low', 'medium', 'high', 'critical'] as const
export type AlertSeverity = (typeof ALERT_SEVERITIES)[number]

export const examQuestion = z.strictObject({ prompt: z.string().max(4000), choices: z.array(z.string().max(1000)).max(20) })
export type ExamQuestion = z.infer<typeof examQuestion>

const examLayout = {
  meta: {
    kind: 'map',
    value: z.union([z.string().max(300), z.number().finite().nonnegative(), z.enum(EXAM_STATUSES), z.boolean()]),
  },
  questions: { kind: 'array', value: examQuestion },
} as const

/** The exam's status; `scheduled` until the server sets another. */
export function examStatus(doc: Y.Doc): ExamStatus {
  const status = mapOf(doc, 'meta').get('status')
  return status === 'open' || status === 'closed' ? status : 'scheduled'
}

/** `s/exam/<id>`: title, schedule and questions (never the key). */
export const exam: Surface = {
  key: 'exam',
  pattern: 'exam/:exam',
  layout: examLayout,
  read: (user) => isLearnerOrStaff(user),
  writes: [
    { path: 'meta', by: roles('teacher') },
    { path: 'questions', by: roles('teacher') },
  ],
  decode: (d) => decodeLayout(examLayout, d),
}

/** Scores are private unless the teacher turns the exam's leaderboard on (`meta.leaderboard: true`). */
export const examLeaderboard = (doc: Y.Doc): boolean => mapOf(doc, 'meta').get('leaderboard') === true

const keyLayout = { key: { kind: 'map', value: z.number().int().nonnegative() } } as const

/** `s/exam/<id>/key`: question index → correct choice, teachers only. */
export const examKey: Surface = {
  key: 'exam/key',
  pattern: 'exam/:exam/key',
  layout: keyLayout,
  read: (user) => user.role === 'teacher',
  writes: [{ path: 'key', by: roles('teacher') }],
  decode: (d) => decodeLayout(keyLayout, d),
}

/** What a proctoring client adds to an event: a short note, or a few measured fields (`{durationSec: 12}`, `{faces: 2}`). */
export const examEventDetail = z.union([shortText, openRecord(16)])
export type ExamEventDetail = z.infer<typeof examEventDetail>

/** Who recorded an event: the student's own browser, a proctor, or a detection service (`service:<sub>`). */
export const eventSource = z.union([z.literal('student'), z.literal('proctor'), z.string().regex(/^service:[A-Za-z0-9_-]{1,64}$/)])
export type EventSource = z.infer<typeof eventSource>

export const examEvent = z.strictObject({ type: z.enum(EXAM_EVENT_TYPES), at: time, detail: examEventDetail.optional(), source: eventSource.optional() })

/** The only `source` a writer may put on an event; a student's events may leave it out. */
export function sourceOf(user: Identity): EventSource | undefined {
  if (user.role === 'proctor') return 'proctor'
  if (user.role === 'service') return `service:${user.sub}`
  return undefined
}

const studentLayout = {
  answers: { kind: 'map', value: z.number().int().nonnegative() },
  progress: { kind: 'map', value: z.union([z.number().int().nonnegative(), time]) },
  events: { kind: 'array', value: examEvent },
  status: { kind: 'map', value: z.union([z.enum(SHEET_STATES), z.number().finite(), time]) },
} as const

/** Frozen while the exam is not open. */
function examNotOpen(ctx: WriteContext): string | null {
  const name = examName(ctx.ref.school, ctx.ref.params.exam)
  const frozen = ctx.facts.frozen(name)
  if (frozen) return frozen
  const parent = ctx.facts.related(name)
  if (parent && examStatus(parent) !== 'open') return `frozen: exam ${examStatus(parent)}`
  return null
}

/** Frozen once the exam is not open, or once this student submitted. */
function studentFrozen(ctx: WriteContext): string | null {
  if (mapOf(ctx.doc, 'status').get('state') === 'submitted') return 'frozen: exam submitted'
  return examNotOpen(ctx)
}

/** Refuses an event whose `source` is not its writer's: a student writes none (or `student`), proctors `proctor`, services `service:<sub>`. */
function eventFromWriter(value: unknown, ctx: WriteContext): string | null {
  const given = (value as { source?: unknown } | null)?.source
  const own = sourceOf(ctx.user)
  if (own === undefined) return given === undefined || given === 'student' ? null : 'a student\'s event has source "student"'
  return given === own ? null : `the event's source must be "${own}"`
}

const student = named('user')

/** `s/exam/<id>/student/<user>`: one student's answers, progress, proctoring events and status. */
export const examStudent: Surface = {
  key: 'exam/student',
  pattern: 'exam/:exam/student/:user',
  layout: studentLayout,
  read: (user, ref) => user.sub === ref.params.user || user.role === 'teacher' || user.role === 'proctor' || user.role === 'service',
  related: (ref) => [examName(ref.school, ref.params.exam)],
  writes: [
    { path: 'answers', by: student, ops: ['insert'], frozen: studentFrozen },
    { path: 'progress', by: student, ops: ['insert'], frozen: studentFrozen },
    // Evidence from more than the student's browser: proctors and detection services append too.
    { path: 'events', by: anyOf(student, roles('proctor', 'service')), ops: ['insert'], append: true, value: eventFromWriter, frozen: studentFrozen },
    {
      path: 'status/state',
      by: student,
      ops: ['insert'],
      value: (v) => (v === 'submitted' ? null : 'a student may only set state to "submitted"'),
      frozen: studentFrozen,
    },
    // A teacher reopens one student's submitted sheet while the exam is open.
    {
      path: 'status/state',
      by: roles('teacher'),
      ops: ['insert'],
      value: (v) => (v === 'in_progress' ? null : 'a teacher may only set state to "in_progress" (reopen)'),
      frozen: examNotOpen,
    },
    { path: 'status', by: server },
  ],
  decode: (d) => decodeLayout(studentLayout, d),
}

const resultLayout = {
  result: { kind: 'map', value: z.union([z.number().finite(), z.enum(SHEET_STATES)]) },
} as const

/** A parent of `student`, by the token's `children` claim. */
const parentOf = (user: Identity, student: string): boolean => user.role === 'parent' && user.children.includes(student)

/**
 * `s/exam/<id>/result/<user>`: one student's grade `{score, of, submittedAt}`, for that student,
 * the teachers and that student's parents. The only place a grade is written: proctors, who read
 * sheets and the monitor, never see one.
 */
export const examResult: Surface = {
  key: 'exam/result',
  pattern: 'exam/:exam/result/:user',
  layout: resultLayout,
  read: (user, ref) => user.sub === ref.params.user || user.role === 'teacher' || parentOf(user, ref.params.user),
  writes: [{ path: 'result', by: server }],
  decode: (d) => decodeLayout(resultLayout, d),
}

/** The monitor's view of one student (`students/<user>`), derived by the server. */
export interface MonitorEntry {
  answered: number
  current: number | null
  lastSeen: number
  state: (typeof SHEET_STATES)[number]
  online: boolean
}

/** One alert per student and event type (`alerts/<user>:<type>`); `at` is the latest event's time. */
export const examAlert = z.strictObject({ user: userId, type: z.enum(EXAM_EVENT_TYPES), severity: z.enum(ALERT_SEVERITIES), at: time, count: z.number().int().positive() })
export type ExamAlert = z.infer<typeof examAlert>

const monitorLayout = {
  students: { kind: 'map' },
  alerts: { kind: 'map', value: examAlert },
  acks: { kind: 'map', value: z.strictObject({ by: userId, at: time }) },
} as const

/** A student's client saves an answer and where they are, in one transaction (auto-save). */
export function answer(doc: Y.Doc, question: number, choice: number, at: number = Date.now()): void {
  doc.transact(() => {
    doc.getMap('answers').set(String(question), choice)
    doc.getMap('progress').set('current', question)
    doc.getMap('progress').set('at', at)
  })
}

/**
 * Appends one event to a student's document: the student's proctoring client (no `source`), or a
 * proctor or detection service, who must give their own `source` (`sourceOf(identity)`).
 */
export function reportEvent(doc: Y.Doc, type: ExamEventType, at: number = Date.now(), detail?: ExamEventDetail, source?: EventSource): void {
  doc.getArray('events').push([{ type, at, ...(detail === undefined ? {} : { detail }), ...(source === undefined ? {} : { source }) }])
}

/** A student hands in early; the server stamps `submittedAt` and grades at once. */
export function submit(doc: Y.Doc): void {
  doc.getMap('status').set('state', 'submitted')
}

/** A teacher reopens a submitted sheet while the exam is open; the server clears its submission and grade. */
export function reopen(doc: Y.Doc): void {
  doc.getMap('status').set('state', 'in_progress')
}

/** A teacher or proctor acknowledges an alert on the monitor. */
export function ackAlert(doc: Y.Doc, alertId: string, by: string, at: number = Date.now()): void {
  doc.getMap('acks').set(alertId, { by, at })
}

/** `s/exam/<id>/monitor`: the server's live view of every student, and proctoring alerts. */
export const examMonitor: Surface = {
  key: 'exam/monitor',
  pattern: 'exam/:exam/monitor',
  layout: monitorLayout,
  read: (user) => user.role === 'teacher' || user.role === 'proctor',
  writes: [
    { path: 'students', by: server },
    { path: 'alerts', by: server },
    {
      path: 'acks/*',
      by: roles('teacher', 'proctor'),
      ops: ['insert'],
      value: (v, ctx) => ((v as { by?: unknown } | null)?.by === ctx.user.sub ? null : 'ack.by must be the acknowledging user'),
    },
  ],
  decode: (d) => decodeLayout(monitorLayout, d),
}
