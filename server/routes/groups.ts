// GET /api/v1/schools/<s>/groups?specialty=&q=: the study groups a member of the school may find:
// public ones, and those the caller is invited to, a member or the owner of (admins and directors:
// every group, as they may open each). Filtered by exact `specialty` and by `q` in the name or
// description, ignoring case; closed groups are listed with `closed: true`.
import { z } from 'zod'
import type { Homeroom } from '../homeroom.ts'
import { errors, HttpError, user, type Api } from '../http.ts'
import { SEGMENT } from '../../docs-model/names.ts'
import { belongsTo } from '../../docs-model/common.ts'
import { readsWholeSchool } from '../../docs-model/rules.ts'
import { resolve } from '../../docs-model/registry.ts'
import { groupMeta, mayView } from '../../docs-model/surfaces/chat/surface.ts'
import { groupMembers } from '../../docs-model/surfaces/chat/state.ts'

const listedGroup = z.object({
  id: z.string(),
  document: z.string(),
  name: z.string().optional(),
  description: z.string().optional(),
  specialty: z.string().optional(),
  owner: z.string(),
  isPublic: z.boolean(),
  members: z.number(),
  maxMembers: z.number().optional(),
  closed: z.boolean(),
  /** The caller's relation to the group. */
  member: z.boolean(),
  invited: z.boolean(),
})

export function groupRoutes(api: Api, app: Homeroom): void {
  api.get(
    '/api/v1/schools/:school/groups',
    {
      schema: {
        summary: 'Study groups the caller may find: public ones and those they are invited to or in, by specialty and text',
        tags: ['groups'],
        security: [{ bearer: [] }],
        params: z.object({ school: z.string().regex(SEGMENT) }),
        querystring: z.object({ specialty: z.string().max(200).optional(), q: z.string().max(200).optional() }),
        response: { 200: z.object({ school: z.string(), groups: z.array(listedGroup) }), ...errors(400, 401, 403, 429) },
      },
    },
    async (request) => {
      const caller = user(request)
      const { school } = request.params
      if (!belongsTo(caller, school)) throw new HttpError(403, 'forbidden', `${caller.sub} is not a member of school ${school}`)
      const q = request.query.q?.toLowerCase()
      const groups: Array<z.infer<typeof listedGroup>> = []
      for (const { name } of await app.store.listDocuments({ school, surface: 'group' })) {
        const { ref } = resolve(name)
        const doc = await app.peek(name)
        const meta = groupMeta(doc)
        if (meta.owner === undefined) continue // never created
        if (!readsWholeSchool(caller) && !mayView(caller, doc)) continue
        if (request.query.specialty !== undefined && meta.specialty !== request.query.specialty) continue
        if (q && !`${meta.name ?? ''}\n${meta.description ?? ''}`.toLowerCase().includes(q)) continue
        const members = groupMembers(doc)
        groups.push({
          id: ref.params.id,
          document: name,
          ...(meta.name !== undefined ? { name: meta.name } : {}),
          ...(meta.description !== undefined ? { description: meta.description } : {}),
          ...(meta.specialty !== undefined ? { specialty: meta.specialty } : {}),
          owner: meta.owner,
          isPublic: meta.isPublic,
          members: members.length,
          ...(Number.isFinite(meta.maxMembers) ? { maxMembers: meta.maxMembers } : {}),
          closed: meta.closed,
          member: members.includes(caller.sub),
          invited: meta.invited.includes(caller.sub),
        })
      }
      groups.sort((a, b) => (a.name ?? a.id).localeCompare(b.name ?? b.id) || (a.id < b.id ? -1 : 1))
      return { school, groups }
    },
  )
}
