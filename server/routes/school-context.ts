// A director's current school: `PUT /api/v1/me/school` switches it (among the token's schools)
// and publishes `school.context_switched` out; `GET /api/v1/me/school` answers it. Kept in the
// events store, so every instance (and the back end, through the event) agrees on it.
import { z } from 'zod'
import { SEGMENT } from '../../docs-model/names.ts'
import type { Homeroom } from '../homeroom.ts'
import { before, errors, HttpError, user, type Api } from '../http.ts'

const own = (schools: string[]) => schools.filter((s) => s !== '*')

export function schoolContextRoutes(api: Api, app: Homeroom): void {
  const notService = before((request) => {
    if (user(request).role === 'service') throw new HttpError(403, 'forbidden', 'a service token works in every school; it has no current one')
  })

  api.get(
    '/api/v1/me/school',
    {
      preParsing: notService,
      schema: {
        summary: "The caller's current school (the one they last switched to, else their only one)",
        tags: ['schools'],
        security: [{ bearer: [] }],
        response: { 200: z.object({ school: z.string().nullable(), at: z.number().optional(), schools: z.array(z.string()) }), ...errors(401, 403, 429) },
      },
    },
    async (request) => {
      const caller = user(request)
      const schools = own(caller.schools)
      const current = await app.eventStore.currentSchool(caller.sub)
      // A school no longer in the token is no current school.
      if (current && schools.includes(current.school)) return { ...current, schools }
      return { school: schools.length === 1 ? schools[0] : null, schools }
    },
  )

  api.put(
    '/api/v1/me/school',
    {
      preParsing: notService,
      schema: {
        summary: 'Switch the caller’s current school; a change publishes school.context_switched',
        tags: ['schools'],
        security: [{ bearer: [] }],
        body: z.strictObject({ school: z.string().regex(SEGMENT) }),
        response: { 200: z.object({ school: z.string(), previous: z.string().nullable() }), ...errors(400, 401, 403, 429) },
      },
    },
    async (request) => {
      const caller = user(request)
      const { school } = request.body
      if (!own(caller.schools).includes(school)) throw new HttpError(403, 'forbidden', `${caller.sub} is not a member of school ${school}`)
      const at = app.clock.now()
      const previous = await app.eventStore.switchSchool(caller.sub, school, at)
      if (previous !== school) {
        // The id names the change too: two switches within one millisecond are two events.
        app.eventsOut.publish({ type: 'school.context_switched', id: `school.context_switched:${caller.sub}:${at}:${previous ?? ''}:${school}`, school, at, data: { user: caller.sub, role: caller.role, from: previous ?? null, to: school } })
      }
      return { school, previous: previous ?? null }
    },
  )
}
