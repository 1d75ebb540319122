// Deliveries and statistics (extensions/observers/inbox.ts records them): `GET
// /api/v1/notifications/<id>` tells the sender of an item who received and read it, `GET
// /api/v1/schools/<s>/statistics` counts a school's items by type and priority with their
// delivery and read rates.
import { z } from 'zod'
import { SEGMENT } from '../../docs-model/names.ts'
import { belongsTo } from '../../docs-model/common.ts'
import type { Homeroom } from '../homeroom.ts'
import { before, schoolRole, errors, HttpError, requireRole, user, type Api } from '../http.ts'

const MAX_PENDING = 10_000
const DAY_MS = 24 * 3600 * 1000

/** Who sent an item, from its id: `notification:<sender>:…`. Items the server wrote (events, emergencies …) have none. */
const senderOf = (item: string): string | undefined => (item.startsWith('notification:') ? item.split(':')[1] : undefined)

const rates = z.object({ recipients: z.number(), items: z.number(), delivered: z.number(), read: z.number(), deliveryRate: z.number(), readRate: z.number() })
type Rates = z.infer<typeof rates>

function add(into: Map<string, Omit<Rates, 'deliveryRate' | 'readRate'>>, key: string, row: { recipients: number; items: number; delivered: number; read: number }): void {
  const sum = into.get(key) ?? { recipients: 0, items: 0, delivered: 0, read: 0 }
  into.set(key, { recipients: sum.recipients + row.recipients, items: sum.items + row.items, delivered: sum.delivered + row.delivered, read: sum.read + row.read })
}
const withRates = (sums: Map<string, Omit<Rates, 'deliveryRate' | 'readRate'>>): Record<string, Rates> =>
  Object.fromEntries(
    [...sums].map(([key, s]) => [key, { ...s, deliveryRate: s.recipients ? Math.round((s.delivered / s.recipients) * 1000) / 1000 : 0, readRate: s.recipients ? Math.round((s.read / s.recipients) * 1000) / 1000 : 0 }]),
  )

export function deliveryRoutes(api: Api, app: Homeroom): void {
  api.get(
    '/api/v1/notifications/:id',
    {
      preParsing: before((request) => requireRole(user(request), 'service', 'admin', 'director', 'teacher')),
      schema: {
        summary: 'Who received and read an inbox item: its sender, admins and services',
        tags: ['notifications'],
        security: [{ bearer: [] }],
        params: z.object({ id: z.string().min(1).max(300) }),
        querystring: z.object({ school: z.string().regex(SEGMENT).optional() }),
        response: {
          200: z.object({ id: z.string(), recipients: z.number(), delivered: z.number(), read: z.number(), pending: z.array(z.string()), unread: z.array(z.string()) }),
          ...errors(400, 401, 403, 404, 429),
        },
      },
    },
    async (request) => {
      const caller = user(request)
      const { id } = request.params
      const asked = request.query.school
      if (asked !== undefined && !belongsTo(caller, asked)) throw new HttpError(403, 'forbidden', `${caller.sub} is not a member of school ${asked}`)
      // Admins and services see every item of their schools; anyone else only what they sent.
      const staff = caller.role === 'admin' || caller.role === 'service'
      if (!staff && senderOf(id) !== caller.sub) throw new HttpError(403, 'forbidden', `${caller.sub} did not send ${id.slice(0, 100)}`)
      const rows = await app.eventStore.deliveriesOf(id, asked !== undefined ? [asked] : caller.schools)
      if (rows.length === 0) throw new HttpError(404, 'not-found', `no deliveries of ${id.slice(0, 100)} in ${asked ?? 'your schools'}`)
      const pending = rows.filter((r) => r.deliveredAt === null).map((r) => r.user)
      const unread = rows.filter((r) => r.readAt === null).map((r) => r.user)
      return {
        id,
        recipients: rows.length,
        delivered: rows.length - pending.length,
        read: rows.length - unread.length,
        pending: pending.slice(0, MAX_PENDING),
        unread: unread.slice(0, MAX_PENDING),
      }
    },
  )

  api.get(
    '/api/v1/schools/:school/statistics',
    {
      preParsing: schoolRole('admin', 'director', 'service'),
      schema: {
        summary: "A school's inbox items since a time, by type and priority, with delivery and read rates",
        tags: ['notifications'],
        security: [{ bearer: [] }],
        params: z.object({ school: z.string().regex(SEGMENT) }),
        querystring: z.object({
          since: z
            .string()
            .refine((v) => /^\d+$/.test(v) || Number.isFinite(Date.parse(v)), 'must be an ISO time or milliseconds since the epoch')
            .transform((v) => (/^\d+$/.test(v) ? Number(v) : Date.parse(v)))
            .optional(),
        }),
        response: { 200: z.object({ school: z.string(), since: z.number(), total: rates, byType: z.record(z.string(), rates), byPriority: z.record(z.string(), rates) }), ...errors(400, 401, 403, 429) },
      },
    },
    async (request) => {
      const { school } = request.params
      const since = request.query.since ?? app.clock.now() - 7 * DAY_MS
      const counts = await app.eventStore.deliveryCounts(school, since)
      const total = new Map<string, Omit<Rates, 'deliveryRate' | 'readRate'>>()
      const byType = new Map<string, Omit<Rates, 'deliveryRate' | 'readRate'>>()
      const byPriority = new Map<string, Omit<Rates, 'deliveryRate' | 'readRate'>>()
      for (const row of counts) {
        add(total, 'all', row)
        add(byType, row.type, row)
        add(byPriority, row.priority, row)
      }
      const empty = { recipients: 0, items: 0, delivered: 0, read: 0, deliveryRate: 0, readRate: 0 }
      return { school, since, total: withRates(total).all ?? empty, byType: withRates(byType), byPriority: withRates(byPriority) }
    },
  )
}
