// The invariants a chaos run checks at the end, each with the number of cases it looked at and
// the violations it found. The truth is the shared PostgreSQL store (read directly, not through
// the proxy), what each client holds, what each instance answers over HTTP, what the webhook
// receivers got and what the outbound stream holds.
import * as Y from 'yjs'
import { resolve } from '../../docs-model/registry.ts'
import { tallies } from '../../docs-model/surfaces/poll/state.ts'
import { ballotName, pollMeta } from '../../docs-model/surfaces/poll/surface.ts'
import { alertsFor, grade, monitorEntry } from '../../docs-model/surfaces/exam/state.ts'
import { examResultName, examStudentName } from '../../docs-model/surfaces/exam/surface.ts'
import { inboxName } from '../../docs-model/surfaces/inbox/surface.ts'
import { mapOf } from '../../docs-model/common.ts'
import { replay } from '../../server/history/replay.ts'
import type { Store } from '../../server/store/types.ts'
import type { Delivery } from '../../test/helpers/safety.ts'
import type { Copy } from './actor.ts'
import { journalOf, notOnce, writesPerKey } from './journal.ts'
import { EXAM_ID, names, POLL_ID, SCHOOL, type School } from './school.ts'

export interface Check {
  name: string
  /** Cases looked at. */
  count: number
  violations: string[]
}

export class Checks {
  readonly list: Check[] = []

  add(name: string): Check {
    const check = { name, count: 0, violations: [] }
    this.list.push(check)
    return check
  }

  get violations(): number {
    return this.list.reduce((n, c) => n + c.violations.length, 0)
  }
}

/** The same JSON with object keys sorted: two replicas of one map may hold their keys in different orders. */
export function canonical(value: unknown): string {
  return JSON.stringify(value, (_, v) => (v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : 1))) : v))
}

export interface Evidence {
  store: Store
  school: School
  copies: Copy[]
  /** The instances' HTTP addresses, all running. */
  instances: Array<{ id: string; http: string }>
  adminToken: string
  alerts: Delivery[]
  events: Delivery[]
  /** The outbound stream's entries' `id` fields. */
  outbound: string[]
  notifications: Array<{ id: string; recipients: number }>
  maxEscalations: number
}

/** Stored documents, replayed once each. */
class Stored {
  private readonly cache = new Map<string, Promise<Y.Doc>>()
  private readonly store: Store
  constructor(store: Store) {
    this.store = store
  }
  doc(name: string): Promise<Y.Doc> {
    let doc = this.cache.get(name)
    if (!doc) this.cache.set(name, (doc = replay(this.store, name).then((r) => r.doc)))
    return doc
  }
}

/** While every client is still connected: acknowledged writes and convergence. */
export async function checkReplicas(e: Evidence, checks: Checks): Promise<void> {
  const stored = new Stored(e.store)
  const journaled = checks.add('every update a client saw acknowledged is in the journal exactly once (copies)')
  const inState = checks.add('every acknowledged update is in every copy of its document and in storage (copy pairs)')
  const refusals = checks.add('no write of the workload was refused (copies)')
  const byDoc = new Map<string, Copy[]>()
  for (const copy of e.copies) byDoc.set(copy.name, [...(byDoc.get(copy.name) ?? []), copy])
  for (const [name, copies] of byDoc) {
    const entries = await journalOf(e.store, name)
    const storedDoc = await stored.doc(name)
    const storedSv = Y.decodeStateVector(Y.encodeStateVector(storedDoc))
    for (const copy of copies) {
      refusals.count++
      if (copy.refusals.length > 0) refusals.violations.push(`${copy.user} on ${name}: ${copy.refusals.join('; ')}`)
      if (copy.acked === 0) continue
      journaled.count++
      const wrong = notOnce(entries, copy.doc.clientID, copy.acked)
      if (wrong.length > 0) journaled.violations.push(`${copy.user} on ${name} (client ${copy.doc.clientID}, ${copy.acked} acknowledged): clocks ${wrong.slice(0, 8).join(', ')}${wrong.length > 8 ? ` and ${wrong.length - 8} more` : ''}`)
      for (const other of [...copies.filter((c) => c.refusals.length === 0), undefined]) {
        inState.count++
        const sv = other ? Y.decodeStateVector(Y.encodeStateVector(other.doc)) : storedSv
        const has = sv.get(copy.doc.clientID) ?? 0
        if (has < copy.acked) inState.violations.push(`${other ? `${other.user}'s copy` : 'storage'} of ${name} holds ${has} of ${copy.user}'s ${copy.acked} acknowledged structs`)
      }
    }
  }
  const converged = checks.add('all clients, all instances and storage hold the same state per document (documents)')
  for (const [name, copies] of byDoc) {
    converged.count++
    const live = copies.filter((c) => c.refusals.length === 0)
    if (live.length === 0) continue
    const first = Y.snapshot(live[0].doc)
    const apart = live.filter((c) => !Y.equalSnapshots(first, Y.snapshot(c.doc))).map((c) => c.user)
    if (apart.length > 0) converged.violations.push(`${name}: copies of ${apart.join(', ')} differ from ${live[0].user}'s`)
    converged.violations.push(...(await agreeWithStorage(e, name, live[0])))
  }
}

/** How long the instances may take to store what they derived last (a coalesced tally, a monitor write). */
const STORAGE_SETTLE_MS = 15_000

/**
 * A copy and every instance's answer against storage, compared until they agree or the deadline
 * passes: the last derived writes may still be on their way to the journal when the clients settle.
 * A document with no stored history (opened, never written) is answered 404 and holds nothing.
 */
async function agreeWithStorage(e: Evidence, name: string, copy: Copy): Promise<string[]> {
  const { surface } = resolve(name)
  const deadline = Date.now() + STORAGE_SETTLE_MS
  for (;;) {
    const problems: string[] = []
    const stored = (await replay(e.store, name)).doc
    const expected = canonical(surface.decode(stored))
    const empty = stored.store.clients.size === 0
    stored.destroy()
    if (canonical(surface.decode(copy.doc)) !== expected) problems.push(`${name}: ${copy.user}'s copy differs from storage`)
    for (const instance of e.instances) {
      const answer = await fetch(`${instance.http}/api/v1/docs/${name}`, { headers: { Authorization: `Bearer ${e.adminToken}` } })
      const body = canonical(await answer.json())
      if (answer.status === 404 && empty) continue
      if (answer.status !== 200 || body !== expected) problems.push(`${name}: ${instance.id} answers ${answer.status} ${body.slice(0, 200)}, storage holds ${expected.slice(0, 200)}`)
    }
    if (problems.length === 0 || Date.now() > deadline) return problems
    await new Promise((r) => setTimeout(r, 500))
  }
}

/** After every client left: what the server derived and the side effects, against storage. */
export async function checkDerived(e: Evidence, checks: Checks): Promise<void> {
  const stored = new Stored(e.store)
  const students = e.school.students.map((a) => a.sub)

  const tally = checks.add('poll tallies equal the stored ballots (polls)')
  const poll = await stored.doc(names.poll)
  const votes = new Map<string, number>()
  for (const student of students) {
    const choice = mapOf(await stored.doc(ballotName(SCHOOL, POLL_ID, student)), 'ballot').get('choice')
    if (typeof choice === 'number') votes.set(student, choice)
  }
  tally.count++
  const expected = tallies(votes, pollMeta(poll))
  const recorded = Object.fromEntries(Object.keys(expected).map((k) => [k, Number(mapOf(poll, 'tallies').get(k) ?? 0)]))
  if (canonical(recorded) !== canonical(expected)) tally.violations.push(`${names.poll}: tallies ${canonical(recorded)}, ballots ${canonical(expected)} (${votes.size} voters)`)

  const scores = checks.add('exam scores equal a re-grading from stored answers and key (submitted sheets)')
  const monitor = checks.add('monitor entries and alerts match the student documents (students)')
  const key = mapOf(await stored.doc(names.examKey), 'key')
  const monitorDoc = await stored.doc(names.monitor)
  const entries = mapOf(monitorDoc, 'students')
  const alerts = mapOf(monitorDoc, 'alerts')
  for (const student of students) {
    const sheet = await stored.doc(examStudentName(SCHOOL, EXAM_ID, student))
    if (mapOf(sheet, 'status').get('state') === 'submitted') {
      scores.count++
      const result = mapOf(await stored.doc(examResultName(SCHOOL, EXAM_ID, student)), 'result').toJSON() as { score?: number; of?: number }
      const regraded = grade(mapOf(sheet, 'answers'), key)
      if (result.score !== regraded || result.of !== key.size) scores.violations.push(`${student}: result ${canonical(result)}, re-graded ${regraded} of ${key.size}`)
    }
    monitor.count++
    const entry = entries.get(student) as Record<string, unknown> | undefined
    const want = monitorEntry(sheet, 0, false)
    const got = entry && { answered: entry.answered, current: entry.current, state: entry.state, online: entry.online }
    const wanted = { answered: want.answered, current: want.current, state: want.state, online: false }
    if (canonical(got) !== canonical(wanted)) monitor.violations.push(`${student}: monitor ${canonical(got)}, sheet says ${canonical(wanted)}`)
    for (const [id, alert] of alertsFor(student, sheet.getArray('events').toArray()).alerts) {
      const shown = alerts.get(id) as { severity?: string; count?: number } | undefined
      if (shown?.severity !== alert.severity || shown?.count !== alert.count) monitor.violations.push(`alert ${id}: monitor ${canonical(shown)}, events say ${alert.severity} × ${alert.count}`)
    }
  }
  await checkInboxes(e, checks, stored)
}

async function checkInboxes(e: Evidence, checks: Checks, stored: Stored): Promise<void> {
  const writes = new Map<string, Map<string, number>>()
  const inboxWrites = async (user: string) => {
    let w = writes.get(user)
    if (!w) writes.set(user, (w = writesPerKey(await journalOf(e.store, inboxName(SCHOOL, user)), 'items')))
    return w
  }
  const once = async (check: Check, user: string, item: string) => {
    check.count++
    const times = (await inboxWrites(user)).get(item) ?? 0
    const present = mapOf(await stored.doc(inboxName(SCHOOL, user)), 'items').has(item)
    if (times !== 1 || !present) check.violations.push(`${item} in ${user}'s inbox: written ${times} times, ${present ? 'present' : 'absent'}`)
  }

  const reached = checks.add("each emergency reached each targeted user's inbox exactly once (emergency × user)")
  const escalated = checks.add('each emergency escalated at most EMERGENCY_MAX_ESCALATIONS times, each escalation item once per admin and director (emergencies)')
  const hooks = checks.add('alert webhook deliveries carry one id per escalation (emergencies)')
  const emergencies = await e.store.listDocuments({ school: SCHOOL, surface: 'emergency' })
  const staff = e.school.roster.filter((m) => m.role === 'admin' || m.role === 'director').map((m) => m.id)
  for (const { name } of emergencies) {
    const doc = await stored.doc(name)
    const id = name.split('/').at(-1)!
    const roles = (mapOf(doc, 'broadcast').get('targetRoles') as string[] | undefined) ?? []
    for (const member of e.school.roster.filter((m) => roles.includes(m.role))) await once(reached, member.id, `emergency:${id}`)
    escalated.count++
    const escalations = Number(mapOf(doc, 'status').get('escalations') ?? 0)
    if (escalations > e.maxEscalations) escalated.violations.push(`${name}: ${escalations} escalations, at most ${e.maxEscalations}`)
    for (let n = 1; n <= escalations; n++) for (const user of staff) await once(escalated, user, `emergency:${id}:escalation:${n}`)
    hooks.count++
    const ids = new Set(e.alerts.filter((d) => d.body?.document === name).map((d) => String(d.headers['x-homeroom-delivery'])))
    const want = new Set(Array.from({ length: escalations }, (_, i) => `${name}:escalation:${i + 1}`))
    if (canonical([...ids].sort()) !== canonical([...want].sort())) hooks.violations.push(`${name}: webhook ids ${[...ids].join(', ') || 'none'}, escalations ${escalations}`)
  }

  const notified = checks.add("each notification is in each recipient's inbox exactly once (notification × recipient)")
  const students = e.school.students.map((a) => a.sub)
  for (const notification of e.notifications) {
    if (notification.recipients !== students.length) notified.violations.push(`${notification.id}: answered ${notification.recipients} recipients, the school has ${students.length} students`)
    for (const student of students) await once(notified, student, notification.id)
  }

  const published = checks.add('each outbound event was published once: stream ids unique, one body per webhook id, expected events present (events)')
  const seen = new Map<string, number>()
  for (const id of e.outbound) seen.set(id, (seen.get(id) ?? 0) + 1)
  published.count += seen.size
  for (const [id, times] of seen) if (times > 1) published.violations.push(`${id} is ${times} times in the outbound stream`)
  const bodies = new Map<string, string>()
  for (const delivery of e.events) {
    const id = String(delivery.headers['x-homeroom-delivery'])
    const body = canonical(delivery.body?.data)
    if (bodies.has(id) && bodies.get(id) !== body) published.violations.push(`${id}: webhook deliveries with different data`)
    bodies.set(id, body)
  }
  const expected = emergencies.map(({ name }) => `emergency.created:${name}`)
  for (const student of students) {
    const sheet = examStudentName(SCHOOL, EXAM_ID, student)
    if (mapOf(await stored.doc(sheet), 'status').get('state') === 'submitted') expected.push(`exam.submitted:${sheet}`)
  }
  for (const id of expected) {
    published.count++
    if (!seen.has(id)) published.violations.push(`${id} was never published to the outbound stream`)
    if (!bodies.has(id)) published.violations.push(`${id} never reached the events webhook`)
  }
}
