// A school's day for the chaos run: each user does their own mix, at seeded random moments,
// until the run stops writing: students type essays, chat, vote (and change their vote), answer
// and hand in the exam while their proctoring client reports events, read their inbox and
// acknowledge emergencies; the teacher chats and types, the proctor acknowledges alerts, the
// driver sends fixes, the admin sends notifications and declares emergencies over HTTP.
import * as Y from 'yjs'
import { markRead, sendMessage, messagesOf } from '../../docs-model/surfaces/chat/surface.ts'
import { ballotName, vote } from '../../docs-model/surfaces/poll/surface.ts'
import { answer, EXAM_EVENT_TYPES, examStatus, examStudentName, reportEvent, submit, ackAlert } from '../../docs-model/surfaces/exam/surface.ts'
import { monitorAlerts } from '../../docs-model/surfaces/exam/state.ts'
import { inboxName, markItemRead } from '../../docs-model/surfaces/inbox/surface.ts'
import { inboxItems } from '../../docs-model/surfaces/inbox/state.ts'
import { acknowledge, emergencyName } from '../../docs-model/surfaces/emergency/surface.ts'
import { reportPosition } from '../../docs-model/surfaces/bus/surface.ts'
import { mintToken } from '../../test/helpers/tokens.ts'
import { Rng } from '../../test/helpers/random.ts'
import type { Actor } from './actor.ts'
import { EXAM_ID, EXAM_KEY, essayText, names, POLL_ID, POLL_OPTIONS, SCHOOL, type School } from './school.ts'

export interface WorkloadOptions {
  seed: string
  /** Where HTTP calls go (the load balancer). */
  http: string
  /** Milliseconds since the workload began at which the admin declares an emergency. */
  emergencyAt: number[]
  /** Students whose index is a multiple of this never acknowledge an emergency (so it escalates). */
  silentEvery: number
  log(line: string): void
}

export interface WorkloadCounts {
  writes: number
  drops: number
  notifications: Array<{ id: string; recipients: number }>
  notificationFailures: number
  emergencies: string[]
  emergencyFailures: number
  submissions: number
}

export class Workload {
  readonly counts: WorkloadCounts = { writes: 0, drops: 0, notifications: [], notificationFailures: 0, emergencies: [], emergencyFailures: 0, submissions: 0 }
  private stopping = false
  private readonly school: School
  private readonly options: WorkloadOptions

  constructor(school: School, options: WorkloadOptions) {
    this.school = school
    this.options = options
  }

  /** Every user's loop, until `stop()`; resolves when all have stopped writing. */
  async run(): Promise<void> {
    const s = this.school
    const began = Date.now()
    await Promise.all([
      ...s.students.map((a, i) => this.student(a, i)),
      this.teacher(s.teacher),
      this.proctor(s.proctor),
      this.driver(s.driver),
      this.admin(s.admin, began),
      this.reader(s.director),
    ])
  }

  stop(): void {
    this.stopping = true
  }

  /** A client's socket drops just after a write leaves it (the write may or may not have arrived). */
  dropMidUpdate(actor: Actor, rng: Rng): void {
    if (actor.copies.has(names.chat)) this.chat(actor, rng)
    this.counts.drops++
    actor.drop()
  }

  private rng(actor: Actor): Rng {
    return new Rng(`${this.options.seed}:${actor.sub}`)
  }

  private write(actor: Actor, name: string, change: (doc: Y.Doc) => void): void {
    actor.write(name, change)
    this.counts.writes++
  }

  private async pause(rng: Rng, min = 250, max = 1000): Promise<void> {
    await new Promise((r) => setTimeout(r, rng.range(min, max)))
  }

  private async student(a: Actor, index: number): Promise<void> {
    const rng = this.rng(a)
    const essay = names.essays[index % names.essays.length]
    const ballot = ballotName(SCHOOL, POLL_ID, a.sub)
    const sheet = examStudentName(SCHOOL, EXAM_ID, a.sub)
    const inbox = inboxName(SCHOOL, a.sub)
    for (const name of [essay, names.chat, names.poll, ballot, names.exam, sheet, inbox]) await a.open(name)
    let submitted = false
    const answered = new Set<number>()
    const silent = index % this.options.silentEvery === 0
    while (!this.stopping) {
      const action = rng.weighted([[4, 'type'], [2, 'chat'], [1, 'vote'], [3, 'exam'], [2, 'inbox'], [2, 'emergency']] as const)
      if (action === 'type') this.type(a, essay, rng)
      else if (action === 'chat') this.chat(a, rng)
      else if (action === 'vote') this.write(a, ballot, (doc) => vote(doc, rng.int(POLL_OPTIONS.length), Date.now()))
      else if (action === 'exam' && !submitted && examStatus(a.copies.get(names.exam)!.doc) === 'open') {
        if (rng.chance(0.3)) this.write(a, sheet, (doc) => reportEvent(doc, rng.pick(EXAM_EVENT_TYPES), Date.now()))
        else if (answered.size >= 3 && rng.chance(0.15)) {
          this.write(a, sheet, submit)
          submitted = true
          this.counts.submissions++
        } else {
          const question = rng.int(EXAM_KEY.length)
          answered.add(question)
          this.write(a, sheet, (doc) => answer(doc, question, rng.int(3), Date.now()))
        }
      } else if (action === 'inbox') this.readInbox(a, rng)
      else if (action === 'emergency' && !silent) await this.acknowledgeEmergencies(a)
      await this.pause(rng)
    }
  }

  private type(a: Actor, essay: string, rng: Rng): void {
    const text = essayText(a.copies.get(essay)!.doc)
    if (!text) return
    const word = `${rng.pick(['river', 'valley', 'stone', 'rain', 'delta', 'flood'])} `
    this.write(a, essay, () => text.insert(rng.int(text.length + 1), word))
  }

  private chat(a: Actor, rng: Rng): void {
    this.write(a, names.chat, (doc) => {
      const id = sendMessage(doc, a.sub, `note ${rng.int(1e6)} from ${a.sub}`, undefined, Date.now())
      if (rng.chance(0.5)) markRead(doc, a.sub, messagesOf(doc).at(-1)?.id ?? id)
    })
  }

  private readInbox(a: Actor, rng: Rng): void {
    const name = inboxName(SCHOOL, a.sub)
    const unread = inboxItems(a.copies.get(name)!.doc).filter((item) => !item.read)
    if (unread.length === 0) return
    const items = unread.slice(0, rng.range(1, 3))
    this.write(a, name, (doc) => items.forEach((item) => markItemRead(doc, item.id, Date.now())))
  }

  /** Opens each emergency the inbox announced and acknowledges it once. */
  private async acknowledgeEmergencies(a: Actor): Promise<void> {
    const inbox = a.copies.get(inboxName(SCHOOL, a.sub))!.doc
    for (const item of inboxItems(inbox)) {
      const match = /^emergency:([^:]+)$/.exec(item.id)
      if (!match) continue
      const name = emergencyName(SCHOOL, match[1])
      const copy = await a.open(name)
      if (copy.refusals.length > 0 || copy.doc.getMap('acks').has(a.sub) || copy.doc.getMap('broadcast').size === 0) continue
      this.write(a, name, (doc) => acknowledge(doc, a.sub, Date.now()))
    }
  }

  private async teacher(a: Actor): Promise<void> {
    const rng = this.rng(a)
    const inbox = inboxName(SCHOOL, a.sub)
    for (const name of [names.chat, inbox]) await a.open(name)
    while (!this.stopping) {
      const action = rng.weighted([[2, 'chat'], [2, 'type'], [1, 'inbox'], [1, 'emergency']] as const)
      if (action === 'chat') this.chat(a, rng)
      else if (action === 'type') this.type(a, rng.pick(names.essays), rng)
      else if (action === 'inbox') this.readInbox(a, rng)
      else await this.acknowledgeEmergencies(a)
      await this.pause(rng, 400, 1500)
    }
  }

  private async proctor(a: Actor): Promise<void> {
    const rng = this.rng(a)
    const inbox = inboxName(SCHOOL, a.sub)
    for (const name of [names.monitor, inbox]) await a.open(name)
    while (!this.stopping) {
      const open = monitorAlerts(a.copies.get(names.monitor)!.doc).filter((alert) => !alert.acked)
      if (open.length > 0) this.write(a, names.monitor, (doc) => ackAlert(doc, open[0].id, a.sub, Date.now()))
      else this.readInbox(a, rng)
      await this.pause(rng, 500, 2000)
    }
  }

  private async driver(a: Actor): Promise<void> {
    const rng = this.rng(a)
    await a.open(names.bus)
    let step = 0
    while (!this.stopping) {
      step++
      this.write(a, names.bus, (doc) => reportPosition(doc, { lat: 52.37 + step * 0.0001, lng: 4.89 + step * 0.0001, speed: rng.range(10, 50), heading: 45, at: Date.now() }))
      await this.pause(rng, 700, 1300)
    }
  }

  private async reader(a: Actor): Promise<void> {
    const rng = this.rng(a)
    await a.open(inboxName(SCHOOL, a.sub))
    while (!this.stopping) {
      this.readInbox(a, rng)
      await this.pause(rng, 1000, 3000)
    }
  }

  private async admin(a: Actor, began: number): Promise<void> {
    const rng = this.rng(a)
    await a.open(inboxName(SCHOOL, a.sub))
    const token = await mintToken(a.claims, { ttl: '4h' })
    const pending = [...this.options.emergencyAt]
    let notice = 0
    while (!this.stopping) {
      if (pending.length > 0 && Date.now() - began >= pending[0]) {
        pending.shift()
        await this.declareEmergency(token)
      } else if (rng.chance(0.3)) await this.notify(token, `n${++notice}`)
      else this.readInbox(a, rng)
      await this.pause(rng, 1000, 3000)
    }
  }

  /** A notification to every student; the same id is sent again until an answer says it was taken (idempotent). */
  private async notify(token: string, id: string): Promise<void> {
    const body = { id, school: SCHOOL, targets: { roles: ['student'] }, type: 'notice', title: `Notice ${id}`, body: 'Bring your atlas tomorrow.', priority: 'normal' }
    for (let attempt = 0; attempt < 5; attempt++) {
      const answer = await this.post('/api/v1/notifications', token, body)
      if (answer?.status === 202) {
        this.counts.notifications.push({ id: (answer.json as { id: string }).id, recipients: (answer.json as { recipients: number }).recipients })
        return
      }
      await new Promise((r) => setTimeout(r, 500))
    }
    this.counts.notificationFailures++
  }

  /** Not idempotent, so sent once: the checks cover every emergency the store holds, whatever its answer was. */
  private async declareEmergency(token: string): Promise<void> {
    const body = { title: 'Lockdown drill', message: 'Stay in your classroom.', level: 'info', targetRoles: ['student', 'teacher'] }
    const answer = await this.post(`/api/v1/schools/${SCHOOL}/emergencies`, token, body)
    if (answer?.status === 201) this.counts.emergencies.push((answer.json as { document: string }).document)
    else this.counts.emergencyFailures++
    this.options.log(`emergency declared: ${answer ? `${answer.status} ${JSON.stringify(answer.json)}` : 'no answer'}`)
  }

  private async post(path: string, token: string, json: unknown): Promise<{ status: number; json: unknown } | undefined> {
    try {
      const response = await fetch(`${this.options.http}${path}`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
        body: JSON.stringify(json),
        signal: AbortSignal.timeout(5000),
      })
      return { status: response.status, json: await response.json().catch(() => undefined) }
    } catch {
      return undefined
    }
  }
}
