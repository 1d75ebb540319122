// POST /api/v1/events: the events stream's shape, in batches, for back ends without Redis. Each
// event is delivered as the stream would deliver it (server/events/incoming.ts); its id is the
// idempotency key, so a retried request delivers nothing twice.
import { z } from 'zod'
import { belongsTo } from '../../docs-model/common.ts'
import type { Homeroom } from '../homeroom.ts'
import { before, errors, HttpError, requireRole, user, type Api } from '../http.ts'
import { EventRefused, incomingEvent, receiveEvent, type Received } from '../events/incoming.ts'

const MAX_BATCH = 500

export function eventRoutes(api: Api, app: Homeroom): void {
  api.post(
    '/api/v1/events',
    {
      bodyLimit: 4 * 1024 * 1024,
      preParsing: before((request) => requireRole(user(request), 'service', 'admin')),
      schema: {
        summary: "Deliver a batch of events, each as one inbox item per recipient (the events stream's shape); ids are idempotency keys",
        tags: ['events'],
        security: [{ bearer: [] }],
        body: z.array(incomingEvent).min(1).max(MAX_BATCH),
        response: {
          202: z.object({ events: z.array(z.object({ id: z.string(), item: z.string(), recipients: z.number(), duplicate: z.boolean() })) }),
          ...errors(400, 401, 403, 409, 413, 429),
        },
      },
    },
    async (request, reply) => {
      const caller = user(request)
      const events = request.body
      const foreign = events.filter((e) => !belongsTo(caller, e.school)).map((e) => e.school)
      if (foreign.length) throw new HttpError(403, 'forbidden', `${caller.sub} is not a member of school ${foreign[0]}`)
      const seen = new Set<string>()
      for (const event of events) {
        if (seen.has(event.id)) throw new HttpError(400, 'bad-request', `event id ${event.id} appears twice in the batch`)
        seen.add(event.id)
      }
      const delivered: Array<Received & { id: string }> = []
      const refused: EventRefused[] = []
      // In order, one at a time: each event already fans out to its recipients in batches.
      for (const event of events) {
        try {
          delivered.push({ id: event.id, ...(await receiveEvent(app, event)) })
          app.metrics.eventsProcessed.inc({ source: 'http', outcome: delivered.at(-1)!.duplicate ? 'duplicate' : 'new' })
        } catch (error) {
          if (!(error instanceof EventRefused)) throw error
          refused.push(error)
        }
      }
      if (refused.length) {
        // A template the data cannot fill is the request's fault (400); an id taken by another event, a conflict (409).
        const bad = refused.some((e) => e.code === 'bad-event')
        const listed = refused.slice(0, 5).map((e) => e.message).join('; ')
        const more = refused.length > 5 ? ` (and ${refused.length - 5} more)` : ''
        const others = delivered.length ? `; the other ${delivered.length} were delivered` : ''
        throw new HttpError(bad ? 400 : 409, bad ? 'bad-request' : 'conflict', `${listed}${more}${others}`)
      }
      return reply.code(202).send({ events: delivered })
    },
  )
}
