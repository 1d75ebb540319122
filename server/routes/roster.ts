// PUT /api/v1/schools/<s>/roster: a school's members, used to resolve notification targets,
// acknowledgement counts and class sizes. Admins of that school and services only.
import { z } from 'zod'
import type { Homeroom } from '../homeroom.ts'
import { schoolRole, errors, type Api } from '../http.ts'
import { SEGMENT } from '../../docs-model/names.ts'
import { ROLES } from '../../docs-model/types.ts'
import { userId } from '../../docs-model/common.ts'

const ids = z.array(z.string().regex(SEGMENT)).max(1000).optional()
const rosterBody = z
  .array(z.object({ id: userId, name: z.string().min(1).max(200), role: z.enum(ROLES), classes: ids, children: ids, buses: ids }))
  .max(100_000)
  .refine((members) => new Set(members.map((m) => m.id)).size === members.length, 'member ids must be unique')

export function rosterRoutes(api: Api, app: Homeroom): void {
  api.put(
    '/api/v1/schools/:school/roster',
    {
      bodyLimit: 32 * 1024 * 1024,
      preParsing: schoolRole('admin', 'service'),
      schema: {
        summary: "Replace a school's roster (used for targeting and acknowledgement counts)",
        tags: ['schools'],
        security: [{ bearer: [] }],
        params: z.object({ school: z.string().regex(SEGMENT) }),
        body: rosterBody,
        response: { 200: z.object({ school: z.string(), members: z.number() }), ...errors(400, 401, 403, 413, 429) },
      },
    },
    async (request) => {
      const members = request.body
      await app.store.putRoster(request.params.school, members)
      return { school: request.params.school, members: members.length }
    },
  )
}
