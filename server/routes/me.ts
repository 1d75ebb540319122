// A user's own inbox over HTTP, with the user's own token: `GET /api/v1/me/inbox` lists items
// newest first (`unread`, `limit`, `before` to page), `PUT …/<id>/read` and `POST …/read-all`
// mark items read exactly as the inbox's owner does on the document (the `read` map), journaled
// as that user. `school` may be left out when the token holds one school.
import { z } from 'zod'
import { SEGMENT } from '../../docs-model/names.ts'
import type { Identity } from '../../docs-model/types.ts'
import { mapOf } from '../../docs-model/common.ts'
import { inboxName, markItemRead, PRIORITIES } from '../../docs-model/surfaces/inbox/surface.ts'
import { inboxItems } from '../../docs-model/surfaces/inbox/state.ts'
import type { Homeroom } from '../homeroom.ts'
import { before, errors, HttpError, user, type Api } from '../http.ts'
import { serverWrite } from '../writes.ts'

const MAX_LIMIT = 200
const schoolQuery = z.object({ school: z.string().regex(SEGMENT).optional() })
const flagValue = z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1')
/** A page cursor: `<ms>~<item id>` as `next` answers it, or a time (ISO or ms) to list what came before it. */
const cursor = z.string().max(600).transform((value, ctx) => {
  const [time, id] = value.includes('~') ? [value.slice(0, value.indexOf('~')), value.slice(value.indexOf('~') + 1)] : [value, undefined]
  const at = /^\d+$/.test(time) ? Number(time) : Date.parse(time)
  if (!Number.isFinite(at)) {
    ctx.addIssue({ code: 'custom', message: 'must be an ISO time, milliseconds since the epoch, or a `next` value' })
    return z.NEVER
  }
  return { at, id }
})

const listedItem = z.looseObject({ id: z.string(), type: z.string(), title: z.string(), body: z.string(), priority: z.enum(PRIORITIES), at: z.union([z.number(), z.string()]), read: z.boolean() })

/** The school whose inbox is meant: the one asked for (a school of the caller), else the caller's only school. */
function schoolOf(caller: Identity, asked: string | undefined): string {
  if (asked !== undefined) {
    if (!caller.schools.includes(asked)) throw new HttpError(403, 'forbidden', `${caller.sub} is not a member of school ${asked}`)
    return asked
  }
  const own = caller.schools.filter((s) => s !== '*')
  if (own.length !== 1) throw new HttpError(400, 'bad-request', `school: required, the token holds ${own.length === 0 ? 'no school of its own' : `${own.length} schools`}`)
  return own[0]
}

const ms = (at: number | string): number => (typeof at === 'number' ? at : new Date(at).getTime())

export function meRoutes(api: Api, app: Homeroom): void {
  const auth = before((request) => void user(request))

  api.get(
    '/api/v1/me/inbox',
    {
      preParsing: auth,
      schema: {
        summary: "The caller's own inbox, newest first; `next` pages on (pass it as `before`)",
        tags: ['notifications'],
        security: [{ bearer: [] }],
        querystring: schoolQuery.extend({ unread: flagValue.optional(), limit: z.coerce.number().int().min(1).max(MAX_LIMIT).default(50), before: cursor.optional() }),
        response: { 200: z.object({ school: z.string(), unread: z.number(), items: z.array(listedItem), next: z.string().optional() }), ...errors(400, 401, 403, 429) },
      },
    },
    async (request) => {
      const caller = user(request)
      const { unread, limit, before: from } = request.query
      const school = schoolOf(caller, request.query.school)
      const all = inboxItems(await app.peek(inboxName(school, caller.sub)))
        // Newest first, ties by id, so a cursor (time and id) names one place in the order.
        .sort((a, b) => ms(b.at) - ms(a.at) || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0))
      const after = from ? all.filter((i) => ms(i.at) < from.at || (from.id !== undefined && ms(i.at) === from.at && i.id < from.id)) : all
      const matching = unread ? after.filter((i) => !i.read) : after
      const items = matching.slice(0, limit)
      // The owner's own client fetched them: delivered, as a synced connection would count.
      await app.eventStore.markDelivered(school, caller.sub, app.clock.now())
      const last = items.at(-1)
      return {
        school,
        unread: all.filter((i) => !i.read).length,
        items,
        ...(matching.length > limit && last ? { next: `${ms(last.at)}~${last.id}` } : {}),
      }
    },
  )

  api.put(
    '/api/v1/me/inbox/:id/read',
    {
      preParsing: auth,
      schema: {
        summary: 'Mark one item of the caller’s own inbox read (again: keeps the first time)',
        tags: ['notifications'],
        security: [{ bearer: [] }],
        params: z.object({ id: z.string().min(1).max(300) }),
        querystring: schoolQuery,
        response: { 200: z.object({ id: z.string(), readAt: z.union([z.number(), z.string()]) }), ...errors(400, 401, 403, 404, 429) },
      },
    },
    async (request) => {
      const caller = user(request)
      const { id } = request.params
      const school = schoolOf(caller, request.query.school)
      let readAt: number | string | undefined
      let found = false
      await serverWrite(
        app.hocuspocus,
        inboxName(school, caller.sub),
        (doc) => {
          found = mapOf(doc, 'items').has(id)
          if (!found) return
          const read = mapOf(doc, 'read')
          if (!read.has(id)) markItemRead(doc, id)
          readAt = read.get(id) as number | string
        },
        { user: caller },
      )
      if (!found) throw new HttpError(404, 'not-found', `no item ${id.slice(0, 100)} in the inbox of ${caller.sub} in ${school}`)
      return { id, readAt: readAt! }
    },
  )

  api.post(
    '/api/v1/me/inbox/read-all',
    {
      preParsing: auth,
      schema: {
        summary: 'Mark every unread item of the caller’s own inbox read',
        tags: ['notifications'],
        security: [{ bearer: [] }],
        querystring: schoolQuery,
        response: { 200: z.object({ marked: z.number() }), ...errors(400, 401, 403, 429) },
      },
    },
    async (request) => {
      const caller = user(request)
      const school = schoolOf(caller, request.query.school)
      let marked = 0
      await serverWrite(
        app.hocuspocus,
        inboxName(school, caller.sub),
        (doc) => {
          const read = mapOf(doc, 'read')
          const at = Date.now()
          for (const id of mapOf(doc, 'items').keys()) {
            if (read.has(id)) continue
            markItemRead(doc, id, at)
            marked++
          }
        },
        { user: caller },
      )
      return { marked }
    },
  )
}
