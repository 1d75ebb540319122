// POST /api/v1/notifications: one item in the inbox of every recipient the targets resolve to
// (through the school's roster). Services and admins may target anyone of their schools;
// teachers only their own classes and the users in them.
import { randomUUID } from 'node:crypto'
import { z } from 'zod'
import type { Homeroom } from '../app.ts'
import { HttpError, requireRole, sendJson, type Router } from '../http.ts'
import { deliver, resolveTargets } from '../inbox.ts'
import { belongsTo } from '../../extensions/auth.ts'
import { SEGMENT } from '../../docs-model/names.ts'
import { ROLES, type Identity } from '../../docs-model/types.ts'
import { userId } from '../../docs-model/common.ts'
import { PRIORITIES } from '../../docs-model/surfaces/inbox.ts'
import type { RosterMember } from '../store/types.ts'
import { parseBody } from './validate.ts'

const DELIVERY_BATCH = 100
const segment = z.string().regex(SEGMENT)
/** A link the client may follow: a path on the app, or http(s). Never `javascript:` and friends. */
const actionUrl = z
  .string()
  .max(500)
  .refine((v) => /^\/(?!\/)/.test(v) || /^https?:\/\//i.test(v), 'must be a path starting with / or an http(s) URL')

const notificationBody = z
  .object({
    /** Optional idempotency key: posting the same id again delivers nothing new. */
    id: segment.optional(),
    school: segment,
    targets: z
      .object({ users: z.array(userId).max(10_000).optional(), roles: z.array(z.enum(ROLES)).max(8).optional(), classes: z.array(segment).max(1000).optional() })
      .refine((t) => (t.users?.length ?? 0) + (t.roles?.length ?? 0) + (t.classes?.length ?? 0) > 0, 'name at least one user, role or class'),
    type: z.string().min(1).max(64),
    title: z.string().min(1).max(200),
    body: z.string().max(4000),
    priority: z.enum(PRIORITIES).default('normal'),
    actionUrl: actionUrl.optional(),
    data: z
      .unknown()
      .refine((v) => JSON.stringify(v ?? null).length <= 16 * 1024, 'at most 16 KiB of JSON: it is copied into every inbox')
      .optional(),
  })
  .strict()

export function notificationRoutes(router: Router, app: Homeroom): void {
  router.on('POST', '/api/v1/notifications', async ({ res, user, json }) => {
    const caller = await user()
    requireRole(caller, 'service', 'admin', 'teacher')
    const input = parseBody(notificationBody, await json(256 * 1024))
    if (!belongsTo(caller, input.school)) throw new HttpError(403, 'forbidden', `${caller.sub} is not a member of school ${input.school}`)
    const roster = await app.store.roster(input.school)
    if (caller.role === 'teacher') checkTeacherTargets(caller, input.targets, roster)
    const recipients = resolveTargets(roster, input.targets)
    const id = input.id ?? `n-${Date.now().toString(36)}-${randomUUID().slice(0, 8)}`
    const { targets: _targets, school: _school, id: _id, ...item } = input
    const at = Date.now()
    // In batches: each recipient's inbox is loaded to be written, and a school may hold thousands.
    for (let i = 0; i < recipients.length; i += DELIVERY_BATCH) {
      await deliver(app.hocuspocus, input.school, recipients.slice(i, i + DELIVERY_BATCH), id, { ...item, at })
    }
    sendJson(res, 202, { id, recipients: recipients.length })
  })
}

/** Teachers reach their own classes: whole classes they teach, or users listed in one of them. */
function checkTeacherTargets(teacher: Identity, targets: { users?: string[]; roles?: string[]; classes?: string[] }, roster: RosterMember[]): void {
  if (targets.roles?.length) throw new HttpError(403, 'forbidden', 'teachers may target classes and users of their classes, not roles')
  const own = new Set(teacher.classes)
  const foreign = (targets.classes ?? []).filter((c) => !own.has(c))
  if (foreign.length) throw new HttpError(403, 'forbidden', `not a class of ${teacher.sub}: ${foreign.slice(0, 5).join(', ')}`)
  const inOwnClass = new Set(roster.filter((m) => (m.classes ?? []).some((c) => own.has(c))).map((m) => m.id))
  // Parents of students in those classes are reachable too.
  for (const member of roster) if ((member.children ?? []).some((child) => inOwnClass.has(child))) inOwnClass.add(member.id)
  const outside = (targets.users ?? []).filter((u) => !inOwnClass.has(u))
  if (outside.length) throw new HttpError(403, 'forbidden', `not in a class of ${teacher.sub}: ${outside.slice(0, 5).join(', ')}`)
}
