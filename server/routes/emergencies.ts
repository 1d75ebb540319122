// POST /api/v1/schools/<s>/emergencies: starts an emergency by writing its broadcast; the
// emergency observer takes it from there (inbox items, counts, escalation).
import { randomUUID } from 'node:crypto'
import { z } from 'zod'
import type { Homeroom } from '../homeroom.ts'
import { schoolRole, errors, user, type Api } from '../http.ts'
import { serverWrite } from '../writes.ts'
import { NO_RECIPIENTS } from '../directory.ts'
import { targetsOf } from '../../docs-model/surfaces/emergency/state.ts'
import { SEGMENT } from '../../docs-model/names.ts'
import { emergencyBroadcast, emergencyName, sendBroadcast } from '../../docs-model/surfaces/emergency/surface.ts'

/** The broadcast, with a title short enough for the inbox items it becomes. */
export const emergencyBody = emergencyBroadcast.extend({ title: z.string().min(1).max(200) })

export function emergencyRoutes(api: Api, app: Homeroom): void {
  api.post(
    '/api/v1/schools/:school/emergencies',
    {
      bodyLimit: 64 * 1024,
      preParsing: schoolRole('admin', 'director', 'service'),
      schema: {
        summary: 'Start an emergency: its broadcast reaches the target roles live and in their inboxes',
        tags: ['safety'],
        security: [{ bearer: [] }],
        params: z.object({ school: z.string().regex(SEGMENT) }),
        body: emergencyBody,
        response: { 201: z.object({ id: z.string(), document: z.string(), targeted: z.number(), warning: z.literal(NO_RECIPIENTS).optional() }), ...errors(400, 401, 403, 413, 429) },
      },
    },
    async (request, reply) => {
      const caller = user(request)
      const { school } = request.params
      const body = request.body
      const id = randomUUID()
      const document = emergencyName(school, id)
      // Counted as the emergency observer counts: the same members, the same rule.
      const targeted = targetsOf(await app.directory.members(school), body).length
      await serverWrite(app.hocuspocus, document, (doc) => sendBroadcast(doc, body, caller.sub), caller)
      return reply.code(201).send({ id, document, targeted, ...(targeted === 0 ? { warning: NO_RECIPIENTS } : {}) })
    },
  )
}
