// What the exam family derives and reads: the schedule and the status it calls for, grading,
// the monitor's entry per student, and the proctoring rules that turn events into alerts.
// Pure: the server's exam and proctoring observers and the browser client both use these.
import type * as Y from 'yjs'
import { arrayOf, entriesOf, mapOf, record, toMillis } from '../../common.ts'
import {
  ALERT_SEVERITIES,
  EXAM_EVENT_TYPES,
  EXAM_STATUSES,
  type AlertSeverity,
  type ExamAlert,
  type ExamEventType,
  type ExamQuestion,
  type ExamStatus,
  type MonitorEntry,
} from './surface.ts'

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

/** The status written in the exam document, or undefined when none (or an unknown one) is. */
export const recordedStatus = (doc: Y.Doc): ExamStatus | undefined => {
  const status = mapOf(doc, 'meta').get('status')
  return EXAM_STATUSES.includes(status as ExamStatus) ? (status as ExamStatus) : undefined
}

/** Whether `a` comes after `b` (a status only ever moves forward); anything is later than none. */
export const laterStatus = (a: ExamStatus, b: ExamStatus | undefined): boolean => b === undefined || EXAM_STATUSES.indexOf(a) > EXAM_STATUSES.indexOf(b)

/** One point per question whose answer equals the key. */
export function grade(answers: Y.Map<unknown>, key: Y.Map<unknown>): number {
  let score = 0
  for (const [question, correct] of key.entries()) if (typeof correct === 'number' && answers.get(question) === correct) score++
  return score
}

/** The monitor's view of one student, derived from their document. */
export function monitorEntry(doc: Y.Doc, lastSeen: number, online: boolean): MonitorEntry {
  let answered = 0
  for (const choice of mapOf(doc, 'answers').values()) if (typeof choice === 'number' && Number.isInteger(choice) && choice >= 0) answered++
  const current = mapOf(doc, 'progress').get('current')
  const status = mapOf(doc, 'status')
  return {
    answered,
    current: typeof current === 'number' && Number.isFinite(current) ? current : null,
    lastSeen,
    state: status.get('state') === 'submitted' ? 'submitted' : 'in_progress',
    online,
  }
}

/** The documented proctoring rules (docs/surfaces-exam-emergency-bus.md). */
export const RULES = {
  tabSwitchBurst: 3,
  tabSwitchWindowMs: 5 * 60 * 1000,
  faceMissingHighAfterSec: 10,
} as const

const rank = (severity: AlertSeverity): number => ALERT_SEVERITIES.indexOf(severity)
const highest = (a: AlertSeverity, b: AlertSeverity): AlertSeverity => (rank(a) >= rank(b) ? a : b)

/** Seconds a `face_missing` event reports in `detail.durationSec`, if it does. */
function missingSeconds(detail: unknown): number | undefined {
  const seconds = record(detail)?.durationSec
  return typeof seconds === 'number' && Number.isFinite(seconds) && seconds >= 0 ? seconds : undefined
}

function severityOf(type: ExamEventType, events: Array<{ at: number; detail?: unknown }>): AlertSeverity {
  switch (type) {
    case 'tab_switch': {
      const times = events.map((e) => e.at).sort((a, b) => a - b)
      const n = RULES.tabSwitchBurst
      for (let i = 0; i + n - 1 < times.length; i++) if (times[i + n - 1] - times[i] <= RULES.tabSwitchWindowMs) return 'high'
      return 'low'
    }
    case 'face_missing':
      return events.reduce<AlertSeverity>((worst, e) => {
        const seconds = missingSeconds(e.detail)
        const severity: AlertSeverity = seconds === undefined ? 'medium' : seconds > RULES.faceMissingHighAfterSec ? 'high' : 'low'
        return highest(worst, severity)
      }, 'low')
    case 'multiple_faces':
      return 'critical'
    case 'copy_paste':
      return 'medium'
    case 'fullscreen_exit':
      return 'low'
  }
}

/** The alerts a student's events raise, by alert id; `ignored` counts malformed events. */
export function alertsFor(user: string, events: readonly unknown[]): { alerts: Map<string, ExamAlert>; ignored: number } {
  const byType = new Map<ExamEventType, Array<{ at: number; detail?: unknown }>>()
  let ignored = 0
  for (const raw of events) {
    const event = record(raw)
    const type = event?.type as ExamEventType
    const at = toMillis(event?.at)
    if (!EXAM_EVENT_TYPES.includes(type) || at === undefined) {
      ignored++
      continue
    }
    const list = byType.get(type) ?? []
    list.push({ at, detail: event?.detail })
    byType.set(type, list)
  }
  const alerts = new Map<string, ExamAlert>()
  for (const [type, list] of byType) {
    alerts.set(`${user}:${type}`, { user, type, severity: severityOf(type, list), at: list.reduce((latest, e) => Math.max(latest, e.at), 0), count: list.length })
  }
  return { alerts, ignored }
}

/** High and critical alerts also reach the inboxes of the exam's teachers and proctors. */
export const notifiesStaff = (severity: AlertSeverity): boolean => severity === 'high' || severity === 'critical'

export const examTitle = (doc: Y.Doc): string => String(mapOf(doc, 'meta').get('title') ?? '')

export const questionsOf = (doc: Y.Doc): ExamQuestion[] => arrayOf(doc, 'questions').toArray() as ExamQuestion[]

/** A student's answers: question index → choice. */
export const answersOf = (sheet: Y.Doc): Record<string, number> => mapOf(sheet, 'answers').toJSON() as Record<string, number>

export const isSubmitted = (sheet: Y.Doc): boolean => mapOf(sheet, 'status').get('state') === 'submitted'

export const monitorStudents = (monitor: Y.Doc): Array<[string, MonitorEntry]> => entriesOf<MonitorEntry>(mapOf(monitor, 'students'))

/** The monitor's alerts, newest first, with whether they were acknowledged. */
export function monitorAlerts(monitor: Y.Doc): Array<ExamAlert & { id: string; acked: boolean }> {
  const acks = mapOf(monitor, 'acks')
  return entriesOf<ExamAlert>(mapOf(monitor, 'alerts'))
    .map(([id, alert]) => ({ ...alert, id, acked: acks.has(id) }))
    .sort((a, b) => new Date(b.at).getTime() - new Date(a.at).getTime())
}
