// Emergencies: once a `broadcast` is written (by the HTTP route or an admin's client), every
// targeted roster user gets an urgent inbox item, `status` counts targeted and acknowledging
// users, and while some have not acknowledged the server escalates every
// EMERGENCY_ESCALATE_AFTER_S (at most EMERGENCY_MAX_ESCALATIONS times): the level rises, admins
// and directors get an inbox item naming who is missing, and the alert webhook is called.
// The next deadline is derived from `status` (`startedAt`, `escalatedAt`), so it survives restarts.
// An emergency an admin (or its sender) cleared (`cleared`, the "all clear") escalates no more.
import type * as Y from 'yjs'
import type { Homeroom } from '../../server/homeroom.ts'
import type { RosterMember } from '../../server/store/types.ts'
import * as map from 'lib0/map'
import { finiteNumber, mapOf, record, toMillis } from '../../docs-model/common.ts'
import type { Broadcast } from '../../docs-model/surfaces/emergency/surface.ts'
import { broadcastOf, clearedOf, escalationsOf, nextEscalationAt, raiseLevel, targetsOf } from '../../docs-model/surfaces/emergency/state.ts'
import { inboxName } from '../../docs-model/surfaces/inbox/surface.ts'
import type { DocRef } from '../../docs-model/types.ts'
import { resolve } from '../../docs-model/registry.ts'
import { Coalescer, contain, Deadlines, derive, documentsUnder, ignoredCounter, report, Serial } from './runtime.ts'
import type { FanOuts } from './fan-out.ts'
import type { Change, Observer } from './registry.ts'

/** Acknowledgements are counted in bursts (200 users acknowledging at once make a few writes). */
const COUNT_DELAY_MS = 50
/**
 * While an emergency runs, its school's members are read from the store at most this often:
 * a burst of acknowledgements then costs counting in memory, not two store queries per count.
 * Starting an emergency always reads them fresh.
 */
const MEMBERS_TTL_MS = 5000
/** At most this many names are spelled out in an escalation's inbox item; `data` holds them all. */
const NAMES_SHOWN = 50
/** A review that failed (the store or Redis briefly away) is tried again this much later. */
export const REVIEW_RETRY_MS = 1000

export class EmergencyObserver implements Observer {
  readonly name = 'emergency-observer'
  readonly surfaces = ['emergency']
  private readonly app: Homeroom
  private readonly fanOuts: FanOuts
  private readonly deadlines: Deadlines
  private readonly serial = new Serial()
  private readonly counts: Coalescer
  /** Per emergency, the users whose acknowledgement this process published. */
  private readonly acksPublished = new Map<string, Set<string>>()
  /** Emergencies whose all clear this process published (or is publishing). */
  private readonly clearsPublished = new Set<string>()
  private readonly members = new Map<string, { at: number; members: RosterMember[] }>()

  constructor(app: Homeroom, fanOuts: FanOuts) {
    this.app = app
    this.fanOuts = fanOuts
    this.deadlines = new Deadlines(app.clock)
    this.counts = new Coalescer(COUNT_DELAY_MS, (error) => report(app, 'emergency.review', error))
  }

  start(): void {
    void contain(this.app, 'emergency.scan', async () => {
      const { store, hocuspocus } = this.app
      const emergencies = await documentsUnder(store, hocuspocus.documents.keys(), { family: 'emergency' }, (ref) => ref.surface === 'emergency')
      for (const ref of emergencies) await this.review(ref.name)
    })
  }

  changed({ ref }: Change): void {
    this.counts.request(ref.name, () => this.review(ref.name))
  }

  stop(): void {
    this.deadlines.stop()
    this.counts.close()
    this.members.clear()
  }

  /**
   * Starts the emergency if it has not started, refreshes the counts, and arms the next escalation.
   * A review that fails is tried again (in place of the armed escalation, which it re-arms): the
   * change that asked for it comes once, and an emergency written just before the store went away
   * would otherwise never be announced.
   */
  private review(name: string): Promise<void> {
    return this.serial.run(name, () =>
      contain(this.app, 'emergency.review', async () => {
        try {
          await this.reviewOnce(name)
        } catch (error) {
          this.deadlines.set(name, this.app.clock.now() + REVIEW_RETRY_MS, () => void this.review(name))
          throw error
        }
      }),
    )
  }

  private async reviewOnce(name: string): Promise<void> {
    const ref = resolve(name).ref
    const doc = await this.app.peek(name)
    const broadcast = broadcastOf(doc)
    if (!broadcast) {
      if (mapOf(doc, 'broadcast').size > 0) ignoredCounter(this.app.metrics).inc({ surface: 'emergency', reason: 'bad-broadcast' })
      return
    }
    const status = mapOf(doc, 'status')
    const starting = !status.has('startedAt')
    const members = await this.membersOf(ref.school, starting)
    const targets = targetsOf(members, broadcast)
    const acks = mapOf(doc, 'acks')
    const acked = targets.filter((m) => acks.has(m.id)).length
    // First, and its claim stored before `startedAt` is: a kill in between leaves the claim for
    // another instance to resume, never a started emergency nobody announces. Delivery runs on.
    if (starting) await this.announce(ref, broadcast, targets)
    // Reaching nobody is itself the alarm: the school's admins and directors hear of it at once.
    if (starting && targets.length === 0) void contain(this.app, 'emergency.no-recipients', () => this.noRecipients(ref, broadcast, members))
    this.publishAcks(ref, targets, acks)
    this.publishCleared(ref, doc, broadcast, targets.length, acked)
    if (starting || status.get('targeted') !== targets.length || status.get('acked') !== acked) {
      const now = this.app.clock.now()
      await derive(this.app, this.name, name, (d) => {
        const s = mapOf(d, 'status')
        if (!s.has('startedAt')) {
          s.set('startedAt', now)
          s.set('escalations', 0)
        }
        if (s.get('targeted') !== targets.length) s.set('targeted', targets.length)
        if (s.get('acked') !== acked) s.set('acked', acked)
      })
    }
    this.arm(name, await this.app.peek(name), targets.length - acked)
  }

  /** The school's members (roster and directory): fresh when asked, else as read within MEMBERS_TTL_MS. */
  private async membersOf(school: string, fresh: boolean): Promise<RosterMember[]> {
    const cached = this.members.get(school)
    if (!fresh && cached && this.app.clock.now() - cached.at < MEMBERS_TTL_MS) return cached.members
    const members = await this.app.directory.members(school)
    this.members.set(school, { at: this.app.clock.now(), members })
    return members
  }

  /** The urgent inbox item for every targeted user, fanned out once across instances (resumed by another if this one dies); resolves once its claim is stored. */
  private async announce(ref: DocRef, broadcast: Broadcast, targets: RosterMember[]): Promise<void> {
    const id = ref.params.id
    // A client-written title may be longer than an inbox title may be.
    const item = { type: 'emergency', title: broadcast.title.slice(0, 200), body: broadcast.message.slice(0, 4000), priority: 'urgent', at: this.app.clock.now(), data: { emergency: ref.name, level: broadcast.level } } as const
    // Users with their inbox open get it first: they see it at once.
    const ids = targets.map((m) => m.id)
    const open = ids.filter((user) => this.app.hocuspocus.documents.has(inboxName(ref.school, user)))
    const closed = ids.filter((user) => !open.includes(user))
    const delivering = await this.fanOuts.begin(`emergency:${ref.name}:announce`, {
      school: ref.school,
      users: [...open, ...closed],
      id: `emergency:${id}`,
      item,
      event: { type: 'emergency.created', id: `emergency.created:${ref.name}`, school: ref.school, at: item.at, data: { emergency: ref.name, title: broadcast.title, level: broadcast.level, targetRoles: broadcast.targetRoles, targeted: targets.length } },
    })
    void delivering.done.then(() => this.app.log.info({ doc: ref.name, targeted: targets.length }, 'emergency announced'), (error: unknown) => report(this.app, 'emergency.announce', error, ref.name))
  }

  /** `emergency.acknowledged` once per targeted user who acknowledged (ids are stable; this process skips those it published). */
  private publishAcks(ref: DocRef, targets: RosterMember[], acks: Y.Map<unknown>): void {
    const published = map.setIfUndefined(this.acksPublished, ref.name, () => new Set<string>())
    for (const member of targets) {
      if (!acks.has(member.id) || published.has(member.id)) continue
      published.add(member.id)
      const at = finiteNumber(record(acks.get(member.id))?.at) ?? this.app.clock.now()
      this.app.eventsOut.publish({ type: 'emergency.acknowledged', id: `emergency.acknowledged:${ref.name}:${member.id}`, school: ref.school, at, data: { emergency: ref.name, user: member.id, role: member.role } })
    }
  }

  /** `emergency.cleared` once the all clear is given; a publish that failed is tried again at the next review. */
  private publishCleared(ref: DocRef, doc: Y.Doc, broadcast: Broadcast, targeted: number, acked: number): void {
    const cleared = clearedOf(doc)
    if (!cleared || this.clearsPublished.has(ref.name)) return
    this.clearsPublished.add(ref.name)
    const data = { emergency: ref.name, title: broadcast.title, by: cleared.by, targeted, acked, escalations: escalationsOf(mapOf(doc, 'status')) }
    void this.app.eventsOut.publish({ type: 'emergency.cleared', id: `emergency.cleared:${ref.name}`, school: ref.school, at: toMillis(cleared.at), data }).then((published) => {
      if (!published) this.clearsPublished.delete(ref.name)
    })
  }

  /** An emergency that targets nobody: an urgent item for the admins and directors, and the webhook, once. */
  private async noRecipients(ref: DocRef, broadcast: Broadcast, members: RosterMember[]): Promise<void> {
    const at = this.app.clock.now()
    this.app.log.warn({ doc: ref.name, targetRoles: broadcast.targetRoles }, 'emergency reached nobody; escalating to admins and directors')
    await this.fanOuts.run(`emergency:${ref.name}:no-recipients`, {
      school: ref.school,
      users: schoolLeaders(members),
      id: `emergency:${ref.params.id}:no-recipients`,
      item: {
        type: 'emergency-no-recipients',
        title: `Nobody received "${broadcast.title}"`.slice(0, 200),
        body: `No member of the roles ${broadcast.targetRoles.join(', ')} is known in this school: the emergency reached nobody.`,
        priority: 'urgent',
        at,
        data: { emergency: ref.name, level: broadcast.level, targetRoles: broadcast.targetRoles },
      },
      webhook: {
        event: 'emergency.no-recipients',
        delivery: `${ref.name}:no-recipients`,
        payload: { school: ref.school, emergency: ref.params.id, document: ref.name, title: broadcast.title, level: broadcast.level, targetRoles: broadcast.targetRoles, targeted: 0, at },
      },
    })
  }

  private arm(name: string, doc: Y.Doc, missing: number): void {
    const at = clearedOf(doc) ? undefined : nextEscalationAt(mapOf(doc, 'status'), missing, this.app.config.emergency)
    if (at === undefined) {
      this.deadlines.clear(name)
      return
    }
    this.deadlines.set(name, at, () => void this.escalate(name))
  }

  /**
   * One escalation step. The status write is conditional on the escalation count it read, so a
   * repeated run changes nothing; its side effects (inbox, event, webhook) are one fan-out claim per step.
   */
  private escalate(name: string): Promise<void> {
    return this.serial.run(name, () =>
      contain(this.app, 'emergency.escalate', async () => {
        const ref = resolve(name).ref
        const doc = await this.app.peek(name)
        const broadcast = broadcastOf(doc)
        // Cleared after the deadline was armed: over, nothing to escalate.
        if (!broadcast || clearedOf(doc)) return
        const roster = await this.app.directory.members(ref.school)
        const acks = mapOf(doc, 'acks')
        const missing = targetsOf(roster, broadcast).filter((m) => !acks.has(m.id))
        const status = mapOf(doc, 'status')
        const done = escalationsOf(status)
        if (missing.length === 0 || done >= this.app.config.emergency.maxEscalations) return
        const step = done + 1
        const level = raiseLevel(broadcast.level)
        const at = this.app.clock.now()
        const shown = missing.slice(0, NAMES_SHOWN).map((m) => `${m.name} (${m.id})`)
        const more = missing.length > NAMES_SHOWN ? ` and ${missing.length - NAMES_SHOWN} more` : ''
        const unacknowledged = missing.map((m) => m.id)
        // One claim, one inbox item id, one event id and one webhook delivery id per step: an
        // escalation re-run here or resumed elsewhere reaches every receiver under the same ids.
        // The claim is stored before the step is: a kill in between leaves it to be resumed.
        const delivering = await this.fanOuts.begin(`emergency:${name}:escalation:${step}`, {
          school: ref.school,
          users: schoolLeaders(roster),
          id: `emergency:${ref.params.id}:escalation:${step}`,
          item: {
            type: 'emergency-escalation',
            title: `Escalation ${step}: ${missing.length} have not acknowledged "${broadcast.title}"`.slice(0, 200),
            body: `Not acknowledged: ${shown.join(', ')}${more}`.slice(0, 4000),
            priority: 'urgent',
            at,
            data: { emergency: name, escalation: step, level, unacknowledged },
          },
          event: { type: 'emergency.escalated', id: `emergency.escalated:${name}:${step}`, school: ref.school, at, data: { emergency: name, title: broadcast.title, level, escalation: step, unacknowledged } },
          webhook: {
            event: 'emergency.escalated',
            delivery: `${name}:escalation:${step}`,
            payload: { school: ref.school, emergency: ref.params.id, document: name, title: broadcast.title, level, escalation: step, targeted: finiteNumber(status.get('targeted')) ?? missing.length, unacknowledged, at },
          },
        })
        let wrote = false
        await derive(this.app, this.name, name, (d) => {
          const s = mapOf(d, 'status')
          // Cleared since it was read above: this step's claim is begun (it is delivered), so it is
          // recorded, and `arm` arms no further one.
          if (escalationsOf(s) !== done) return
          s.set('escalations', step)
          s.set('escalatedAt', at)
          if (mapOf(d, 'broadcast').get('level') !== level) mapOf(d, 'broadcast').set('level', level)
          wrote = true
        })
        if (wrote) this.arm(name, await this.app.peek(name), missing.length)
        await delivering.done
        this.app.log.warn({ doc: name, step, missing: missing.length }, 'emergency escalated')
      }),
    )
  }
}

/** Whom an emergency escalates to: the school's admins and directors. */
const schoolLeaders = (members: readonly RosterMember[]): string[] => members.filter((m) => m.role === 'admin' || m.role === 'director').map((m) => m.id)
