// POST /api/v1/schools/<s>/emergencies: starts an emergency by writing its broadcast; the
// emergency observer takes it from there (inbox items, counts, escalation).
import { randomUUID } from 'node:crypto'
import { z } from 'zod'
import type { Homeroom } from '../app.ts'
import { HttpError, requireRole, sendJson, type Router } from '../http.ts'
import { serverWrite } from '../writes.ts'
import { belongsTo } from '../../extensions/auth.ts'
import { SEGMENT } from '../../docs-model/names.ts'
import { ROLES } from '../../docs-model/types.ts'
import { mapOf } from '../../docs-model/common.ts'
import { LEVELS } from '../../docs-model/surfaces/emergency.ts'
import { parseBody } from './validate.ts'

const emergencyBody = z.object({
  title: z.string().min(1).max(200),
  message: z.string().max(4000),
  level: z.enum(LEVELS),
  targetRoles: z.array(z.enum(ROLES)).min(1).max(ROLES.length),
})

export function emergencyRoutes(router: Router, app: Homeroom): void {
  router.on('POST', '/api/v1/schools/:school/emergencies', async ({ params, res, user, json }) => {
    const caller = await user()
    requireRole(caller, 'admin', 'director', 'service')
    if (!SEGMENT.test(params.school)) throw new HttpError(400, 'bad-request', `'${params.school.slice(0, 70)}' is not a valid school id`)
    if (!belongsTo(caller, params.school)) throw new HttpError(403, 'forbidden', `${caller.sub} is not a member of school ${params.school}`)
    const body = parseBody(emergencyBody, await json(64 * 1024))
    const id = randomUUID()
    const document = `${params.school}/emergency/${id}`
    await serverWrite(
      app.hocuspocus,
      document,
      (doc) => {
        const broadcast = mapOf(doc, 'broadcast')
        broadcast.set('title', body.title)
        broadcast.set('message', body.message)
        broadcast.set('level', body.level)
        broadcast.set('targetRoles', [...new Set(body.targetRoles)])
        broadcast.set('by', caller.sub)
        broadcast.set('at', Date.now())
      },
      caller,
    )
    sendJson(res, 201, { id, document })
  })
}
