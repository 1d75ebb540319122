// GET /api/v1/schools/<s>/people: the names of a school's members, from where the server knows
// them (the roster, then the user directory of verified tokens), so an app shows "Ada" where a
// document holds `u1`. Only id, name and role: never classes, children or buses.
import { z } from 'zod'
import type { Homeroom } from '../homeroom.ts'
import { schoolRole, errors, HttpError, requireRole, user, type Api } from '../http.ts'
import { SEGMENT } from '../../docs-model/names.ts'
import { ROLES } from '../../docs-model/types.ts'

/** Ids asked for in one request: a page of chat authors or an exam's monitor rows. */
export const MAX_PEOPLE_IDS = 200

/** Comma-separated values as an array. */
const commaList = z.string().transform((value) => value.split(',').filter((part) => part !== ''))

const peopleQuery = z.object({
  ids: commaList.pipe(z.array(z.string().regex(SEGMENT)).max(MAX_PEOPLE_IDS)).optional().describe(`comma-separated user ids, at most ${MAX_PEOPLE_IDS}`),
  roles: commaList.pipe(z.array(z.enum(ROLES))).optional().describe('comma-separated roles: every member of those roles (admin, director and service only)'),
})

const person = z.object({ id: z.string(), name: z.string(), role: z.string() })

export function peopleRoutes(api: Api, app: Homeroom): void {
  api.get(
    '/api/v1/schools/:school/people',
    {
      preParsing: schoolRole(...ROLES),
      schema: {
        summary: "Names of a school's members: those asked for by id, or (for admins, directors and services) every member of some roles",
        tags: ['schools'],
        security: [{ bearer: [] }],
        params: z.object({ school: z.string().regex(SEGMENT) }),
        querystring: peopleQuery,
        response: { 200: z.object({ school: z.string(), people: z.array(person) }), ...errors(400, 401, 403, 429) },
      },
    },
    async (request) => {
      const { school } = request.params
      // An empty list asks for nothing, as an absent one does.
      const ids = request.query.ids?.length ? request.query.ids : undefined
      const roles = request.query.roles?.length ? request.query.roles : undefined
      if (!ids && !roles) throw new HttpError(400, 'bad-request', "give 'ids' or 'roles'")
      // Listing a whole role is what a drill's view of who is missing needs; others name whom they ask about.
      if (roles) requireRole(user(request), 'admin', 'director', 'service')
      const wanted = ids && new Set(ids)
      const members = await app.directory.members(school)
      const people = members
        .filter((m) => (!wanted || wanted.has(m.id)) && (!roles || (roles as string[]).includes(m.role)))
        .map((m) => ({ id: m.id, name: m.name ?? m.id, role: m.role }))
        .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
      return { school, people }
    },
  )
}
