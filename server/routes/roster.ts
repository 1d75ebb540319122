// PUT /api/v1/schools/<s>/roster: a school's members, used to resolve notification targets,
// acknowledgement counts and class sizes. Admins of that school and services only.
import { z } from 'zod'
import type { Homeroom } from '../app.ts'
import { HttpError, requireRole, sendJson, type Router } from '../http.ts'
import { belongsTo } from '../../extensions/auth.ts'
import { SEGMENT } from '../../docs-model/names.ts'
import { ROLES } from '../../docs-model/types.ts'
import { userId } from '../../docs-model/common.ts'
import { parseBody } from './validate.ts'

const ids = z.array(z.string().regex(SEGMENT)).max(1000).optional()
const rosterBody = z
  .array(z.object({ id: userId, name: z.string().min(1).max(200), role: z.enum(ROLES), classes: ids, children: ids, buses: ids }))
  .max(100_000)
  .refine((members) => new Set(members.map((m) => m.id)).size === members.length, 'member ids must be unique')

export function rosterRoutes(router: Router, app: Homeroom): void {
  router.on('PUT', '/api/v1/schools/:school/roster', async ({ params, res, user, json }) => {
    const caller = await user()
    requireRole(caller, 'admin', 'service')
    if (!SEGMENT.test(params.school)) throw new HttpError(400, 'bad-request', `'${params.school.slice(0, 70)}' is not a valid school id`)
    if (!belongsTo(caller, params.school)) throw new HttpError(403, 'forbidden', `${caller.sub} is not a member of school ${params.school}`)
    const members = parseBody(rosterBody, await json(32 * 1024 * 1024))
    await app.store.putRoster(params.school, members)
    sendJson(res, 200, { school: params.school, members: members.length })
  })
}
