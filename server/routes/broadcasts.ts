// `POST /api/v1/broadcasts`: one request from a director (or an admin, a service) to several of
// their schools: a notification, an emergency, or both, for each school in `schools`. Each
// school's part goes through the school's own route (`POST /api/v1/notifications`, `POST
// /api/v1/schools/<s>/emergencies`) with the caller's token, so every rule, idempotency key and
// answer of those routes holds unchanged; the answer lists each school's. Before anything is sent,
// the whole request is checked (every school the caller's, each part valid as its route would
// take it): all or nothing, every problem named in the one refusal.
import { z } from 'zod'
import { SEGMENT } from '../../docs-model/names.ts'
import { belongsTo } from '../../docs-model/common.ts'
import type { Homeroom } from '../homeroom.ts'
import { before, errors, HttpError, requireRole, user, type Api } from '../http.ts'
import { notificationBody } from './notifications.ts'
import { emergencyBody } from './emergencies.ts'

const MAX_SCHOOLS = 50

const broadcastBody = z
  .strictObject({
    schools: z.array(z.string().regex(SEGMENT)).min(1).max(MAX_SCHOOLS),
    /** The body of `POST /api/v1/notifications` without `school` (validated there, per school). */
    notification: z.looseObject({}).optional(),
    /** The body of `POST /api/v1/schools/<s>/emergencies` (validated there). */
    emergency: z.looseObject({}).optional(),
  })
  .refine((b) => b.notification !== undefined || b.emergency !== undefined, 'send a notification, an emergency, or both')

const result = z.object({ school: z.string(), kind: z.enum(['notification', 'emergency']), status: z.number(), body: z.unknown() })

export function broadcastRoutes(api: Api, _app: Homeroom): void {
  api.post(
    '/api/v1/broadcasts',
    {
      bodyLimit: 256 * 1024,
      preParsing: before((request) => requireRole(user(request), 'director', 'admin', 'service')),
      schema: {
        summary: 'A notification and/or an emergency to several of the caller’s schools in one request, each through its school’s route',
        tags: ['notifications', 'safety'],
        security: [{ bearer: [] }],
        body: broadcastBody,
        response: { 200: z.object({ ok: z.boolean(), results: z.array(result) }), ...errors(400, 401, 403, 413, 429) },
      },
    },
    async (request) => {
      const caller = user(request)
      const { schools, notification, emergency } = request.body
      const foreign = schools.filter((s) => !belongsTo(caller, s))
      const problems = [...foreign.map((s) => `${caller.sub} is not a member of school ${s}`), ...partProblems(schools[0], notification, emergency)]
      if (problems.length) throw new HttpError(foreign.length ? 403 : 400, foreign.length ? 'forbidden' : 'bad-request', problems.join('; '))
      const headers = { authorization: request.headers.authorization ?? '', 'content-type': 'application/json' }
      const results: Array<z.infer<typeof result>> = []
      for (const school of [...new Set(schools)]) {
        const parts: Array<['notification' | 'emergency', string, unknown]> = []
        if (notification) parts.push(['notification', '/api/v1/notifications', { ...notification, school }])
        if (emergency) parts.push(['emergency', `/api/v1/schools/${school}/emergencies`, emergency])
        for (const [kind, url, payload] of parts) {
          const answer = await api.inject({ method: 'POST', url, headers, payload: JSON.stringify(payload) })
          results.push({ school, kind, status: answer.statusCode, body: answer.json() })
        }
      }
      return { ok: results.every((r) => r.status < 300), results }
    },
  )
}

/** What is wrong with the parts, checked as their routes will check them (the same for every school). */
function partProblems(school: string, notification?: Record<string, unknown>, emergency?: Record<string, unknown>): string[] {
  const problems: string[] = []
  const check = (part: string, schema: z.ZodType, value: unknown) => {
    const parsed = schema.safeParse(value)
    if (!parsed.success) problems.push(...parsed.error.issues.map((i) => `${[part, ...i.path].join('.')}: ${i.message}`))
  }
  if (notification) {
    if ('school' in notification || 'schools' in notification) problems.push('notification.school: name the schools in `schools`')
    else check('notification', notificationBody, { ...notification, school })
  }
  if (emergency) check('emergency', emergencyBody, emergency)
  return problems
}
