// POST /api/v1/notifications: one item in the inbox of every recipient the targets resolve to
// (through the school's roster). Services and admins may target anyone of their schools;
// teachers only their own classes and the users in them. `schools: [...]` instead of `school`
// sends the same notification to several of the caller's schools (a director's): every school is
// checked before any is delivered to, and every problem is named in the one refusal.
//
// A request's `id` is its sender's: the item lands under `notification:<sender>:<id>`, so two
// senders never collide. Reusing an id is decided with store claims, which hold across restarts
// and instances: one for the id (the first request to take it delivers), one for the id with a
// digest of the whole request (whether exactly this request came before), and one marking a
// request refused. Claims only answer "first or not", so a repeat of a request is answered from
// the inboxes themselves: 202 only when every recipient holds exactly this notification under
// its id (an interrupted delivery is completed first), else 409 `conflict`.
import { createHash, randomUUID } from 'node:crypto'
import { z } from 'zod'
import type { Homeroom } from '../homeroom.ts'
import { before, errors, HttpError, requireRole, user, type Api } from '../http.ts'
import { deliver, inboxItems, notificationKey } from '../inbox.ts'
import { targetedIds, type Targets } from '../../docs-model/surfaces/inbox/state.ts'
import { SEGMENT } from '../../docs-model/names.ts'
import { ROLES, type Identity } from '../../docs-model/types.ts'
import { belongsTo, userId } from '../../docs-model/common.ts'
import { NOTIFIERS, PRIORITIES, type InboxItem } from '../../docs-model/surfaces/inbox/surface.ts'
import type { RosterMember } from '../store/types.ts'
import { NO_RECIPIENTS } from '../directory.ts'

const DELIVERY_BATCH = 100
const segment = z.string().regex(SEGMENT)
/** A link the client may follow: a path on the app, or http(s). Never `javascript:` and friends. */
export const actionUrl = z
  .string()
  .max(500)
  .refine((v) => /^\/(?!\/)/.test(v) || /^https?:\/\//i.test(v), 'must be a path starting with / or an http(s) URL')

/** Who a notification is for (resolved through the roster). */
export const notificationTargets = z
  .object({ users: z.array(userId).max(10_000).optional(), roles: z.array(z.enum(ROLES)).max(8).optional(), classes: z.array(segment).max(1000).optional() })
  .refine((t) => (t.users?.length ?? 0) + (t.roles?.length ?? 0) + (t.classes?.length ?? 0) > 0, 'name at least one user, role or class')

/** A notification's `data`: bounded, since it is copied into every inbox. */
export const notificationData = z.unknown().refine((v) => JSON.stringify(v ?? null).length <= 16 * 1024, 'at most 16 KiB of JSON: it is copied into every inbox')

const MAX_SCHOOLS = 50

const notificationFields = z
  .object({
    /** Optional idempotency key: posting the same id again delivers nothing new. */
    id: segment.optional(),
    targets: notificationTargets,
    type: z.string().min(1).max(64),
    title: z.string().min(1).max(200),
    body: z.string().max(4000),
    priority: z.enum(PRIORITIES).default('normal'),
    actionUrl: actionUrl.optional(),
    data: notificationData.optional(),
  })
  .strict()

/** One school's notification: what every school's part of a request is checked as. */
export const notificationBody = notificationFields.extend({ school: segment })

/** The request: one school, or several (a director's) with the same notification to each. */
const notificationRequest = notificationFields
  .extend({ school: segment.optional(), schools: z.array(segment).min(1).max(MAX_SCHOOLS).optional() })
  .refine((b) => (b.school === undefined) !== (b.schools === undefined), 'name either `school` or `schools`, not both')

const sent = z.object({ id: z.string(), recipients: z.number(), warning: z.literal(NO_RECIPIENTS).optional() })

type NotificationRequest = z.output<typeof notificationBody>
/** An item without its time: what two requests must agree on to be the same notification. */
type ItemContent = Omit<InboxItem, 'at'>

export function notificationRoutes(api: Api, app: Homeroom): void {
  api.post(
    '/api/v1/notifications',
    {
      bodyLimit: 256 * 1024,
      preParsing: before((request) => requireRole(user(request), ...NOTIFIERS)),
      schema: {
        summary: "Put one item in the inbox of every recipient the targets resolve to (through the school's roster), in one school or several",
        tags: ['notifications'],
        security: [{ bearer: [] }],
        body: notificationRequest,
        response: {
          202: sent.extend({ schools: z.array(sent.extend({ school: z.string() }).omit({ id: true })).optional() }),
          ...errors(400, 401, 403, 409, 413, 429),
        },
      },
    },
    async (request, reply) => {
      const caller = user(request)
      const { school, schools, ...fields } = request.body
      const targetSchools = [...new Set(schools ?? [school!])]
      const recipients = await checkedRecipients(app, caller, targetSchools, fields.targets)
      const id = fields.id ?? `n-${Date.now().toString(36)}-${randomUUID().slice(0, 8)}`
      const answers: Array<{ school: string; recipients: number; warning?: typeof NO_RECIPIENTS }> = []
      for (const target of targetSchools) {
        try {
          await sendToSchool(app, caller, { ...fields, id, school: target }, recipients.get(target)!)
        } catch (error) {
          if (!(error instanceof HttpError) || answers.length === 0) throw error
          throw new HttpError(error.status, error.code, `${target}: ${error.message}; delivered to ${answers.map((a) => a.school).join(', ')} before`)
        }
        const reached = recipients.get(target)!.length
        answers.push({ school: target, recipients: reached, ...(reached === 0 ? { warning: NO_RECIPIENTS } : {}) })
      }
      const total = answers.reduce((n, a) => n + a.recipients, 0)
      // Reaching nobody is answered as such, never as a delivery.
      return reply.code(202).send({ id: notificationKey(caller.sub, id), recipients: total, ...(total === 0 ? { warning: NO_RECIPIENTS } : {}), ...(schools ? { schools: answers } : {}) })
    },
  )
}

/**
 * Every school's recipients, once the caller may notify all of them: all or nothing, each problem
 * (a school not the caller's, a teacher's target outside their classes) reported in one refusal.
 */
async function checkedRecipients(app: Homeroom, caller: Identity, schools: string[], targets: Targets): Promise<Map<string, string[]>> {
  const problems: string[] = []
  const recipients = new Map<string, string[]>()
  for (const school of schools) {
    if (!belongsTo(caller, school)) {
      problems.push(`${caller.sub} is not a member of school ${school}`)
      continue
    }
    const members = await app.directory.members(school)
    const refusals = caller.role === 'teacher' ? teacherRefusals(caller, targets, members) : []
    problems.push(...refusals.map((r) => (schools.length > 1 ? `${school}: ${r}` : r)))
    recipients.set(school, targetedIds(members, targets))
  }
  if (problems.length) throw new HttpError(403, 'forbidden', problems.join('; '))
  return recipients
}

/** Delivers one school's notification, or answers its repeat (see the top of the file). */
async function sendToSchool(app: Homeroom, caller: Identity, input: NotificationRequest & { id: string }, recipients: string[]): Promise<void> {
  const key = notificationKey(caller.sub, input.id)
  const { targets: _targets, school: _school, id: _id, ...content } = input
  const idClaim = `notification:${input.school}:${caller.sub}:${input.id}`
  const digest = requestDigest(input)
  const refusedClaim = `${idClaim}:refused:${digest}`
  const what = `notification id ${input.id} of ${caller.sub}`
  if (await app.store.claim(`${idClaim}:body:${digest}`)) {
    // Never requested before, so the id is either free or taken by a different request.
    if (!(await app.store.claim(idClaim))) {
      await app.store.claim(refusedClaim)
      throw new HttpError(409, 'conflict', `${what} was already used for another notification; use a new id`)
    }
    await deliverInBatches(app, input.school, recipients, key, { ...content, at: Date.now() })
  } else {
    await answerRepeat(app, input.school, recipients, key, content, what, refusedClaim)
  }
}

/**
 * Exactly this request came before: either it took the id and delivered (then this is a retry),
 * or it was refused. The inboxes tell: a recipient holding something else under the id means a
 * conflict; recipients holding this notification confirm it, and any still without it (a delivery
 * cut short, someone added to the roster since) receive it now, with the first delivery's time,
 * unless this request was refused before (same content, other targets).
 */
async function answerRepeat(app: Homeroom, school: string, recipients: string[], key: string, content: ItemContent, what: string, refusedClaim: string): Promise<void> {
  if (recipients.length === 0) return // nobody to receive it: nothing can be lost either
  const held: unknown[] = []
  // In batches, stopping at the first conflict: each inbox is loaded to be read.
  for (let i = 0; i < recipients.length; i += DELIVERY_BATCH) {
    const batch = await inboxItems(app.hocuspocus, school, recipients.slice(i, i + DELIVERY_BATCH), key)
    if (batch.some((item) => item !== undefined && !sameContent(item, content))) {
      throw new HttpError(409, 'conflict', `${what} was already used for another notification; use a new id`)
    }
    held.push(...batch)
  }
  const first = held.find((item) => item !== undefined) as InboxItem | undefined
  if (!first) {
    throw new HttpError(409, 'conflict', `${what}: an earlier request with this id is still being delivered, or carried another notification; retry shortly, or use a new id`)
  }
  const missing = recipients.filter((_, i) => held[i] === undefined)
  if (missing.length === 0) return
  // Claiming is the only way to ask whether a refusal marked this request; a claim won here marks
  // it too, so a later completion of the same request is refused as unconfirmed, never a wrong 202.
  if (!(await app.store.claim(refusedClaim))) {
    throw new HttpError(409, 'conflict', `${what} cannot be confirmed: the same notification to other targets was refused, or its delivery was already completed once; use a new id`)
  }
  await deliverInBatches(app, school, missing, key, { ...content, at: first.at })
}

export async function deliverInBatches(app: Homeroom, school: string, recipients: string[], key: string, item: InboxItem): Promise<void> {
  // In batches: each recipient's inbox is loaded to be written, and a school may hold thousands.
  for (let i = 0; i < recipients.length; i += DELIVERY_BATCH) {
    await deliver(app, school, recipients.slice(i, i + DELIVERY_BATCH), key, item)
  }
}

/** A digest of everything a request asks for (not its id): equal requests, however their JSON is ordered, digest alike. */
function requestDigest(input: NotificationRequest): string {
  const { id: _id, targets, ...rest } = input
  const list = (values?: string[]) => (values?.length ? [...new Set(values)].sort() : undefined)
  const normalised = { ...rest, targets: { users: list(targets.users), roles: list(targets.roles), classes: list(targets.classes) } }
  return createHash('sha256').update(canonicalJson(normalised)).digest('base64url')
}

/** Whether a stored item is this content (its time aside). */
function sameContent(stored: unknown, content: ItemContent): boolean {
  if (stored === null || typeof stored !== 'object') return false
  const { at: _at, ...storedContent } = stored as Record<string, unknown>
  return canonicalJson(storedContent) === canonicalJson(content)
}

/** JSON with object keys sorted and undefined members left out, so equal values serialise alike. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? 'null' : canonicalJson(v))).join(',')}]`
  if (value !== null && typeof value === 'object') {
    const members = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`)
    return `{${members.join(',')}}`
  }
  return JSON.stringify(value ?? null)
}

/** Teachers reach their own classes: whole classes they teach (or some roles in them), or users listed in one of them. What they may not reach, one line each. */
function teacherRefusals(teacher: Identity, targets: Targets, roster: RosterMember[]): string[] {
  const refusals: string[] = []
  if (targets.roles?.length && !targets.classes?.length) refusals.push('teachers may target roles only within their classes (roles together with classes)')
  const own = new Set(teacher.classes)
  const foreign = (targets.classes ?? []).filter((c) => !own.has(c))
  if (foreign.length) refusals.push(`not a class of ${teacher.sub}: ${foreign.slice(0, 5).join(', ')}`)
  const inOwnClass = new Set(roster.filter((m) => (m.classes ?? []).some((c) => own.has(c))).map((m) => m.id))
  // Parents of students in those classes are reachable too.
  for (const member of roster) if ((member.children ?? []).some((child) => inOwnClass.has(child))) inOwnClass.add(member.id)
  const outside = (targets.users ?? []).filter((u) => !inOwnClass.has(u))
  if (outside.length) refusals.push(`not in a class of ${teacher.sub}: ${outside.slice(0, 5).join(', ')}`)
  return refusals
}
