// Event types of a school: `PUT /api/v1/schools/<s>/event-types/<type>` declares one (default
// priority, target roles, title, body and action URL templates; server/events/templates.ts) and
// `GET /api/v1/schools/<s>/event-types` lists them. Events of a declared type may leave out what
// the type provides.
import { z } from 'zod'
import { SEGMENT } from '../../docs-model/names.ts'
import type { Homeroom } from '../homeroom.ts'
import { schoolRole, errors, type Api } from '../http.ts'
import { incomingEvent } from '../events/incoming.ts'
import { eventTypeDefinition, placeholders } from '../events/templates.ts'

const schoolParam = z.string().regex(SEGMENT)
const typeName = incomingEvent.shape.type

/** Admins and services of the school. */
const schoolStaff = schoolRole('admin', 'service')

const listed = z.object({ type: z.string(), updatedAt: z.number(), placeholders: z.array(z.string()) }).extend(eventTypeDefinition.shape)

export function eventTypeRoutes(api: Api, app: Homeroom): void {
  api.put(
    '/api/v1/schools/:school/event-types/:type',
    {
      bodyLimit: 64 * 1024,
      preParsing: schoolStaff,
      schema: {
        summary: 'Declare an event type: default priority, target roles, title/body/actionUrl templates with {{field}} placeholders filled from an event’s data',
        tags: ['events'],
        security: [{ bearer: [] }],
        params: z.object({ school: schoolParam, type: typeName }),
        body: eventTypeDefinition,
        response: { 200: listed, ...errors(400, 401, 403, 413, 429) },
      },
    },
    async (request) => {
      const { school, type } = request.params
      const definition = request.body
      const at = Date.now()
      await app.eventStore.putEventType(school, type, definition, at)
      return { type, updatedAt: at, placeholders: placeholdersOf(definition), ...definition }
    },
  )

  api.get(
    '/api/v1/schools/:school/event-types',
    {
      preParsing: schoolStaff,
      schema: {
        summary: "A school's event types",
        tags: ['events'],
        security: [{ bearer: [] }],
        params: z.object({ school: schoolParam }),
        response: { 200: z.array(listed), ...errors(400, 401, 403, 429) },
      },
    },
    async (request) =>
      (await app.eventStore.eventTypes(request.params.school)).map(({ type, definition, updatedAt }) => ({ type, updatedAt, placeholders: placeholdersOf(definition), ...definition })),
  )
}

/** The data fields a type's templates use: what an event of it must carry. */
const placeholdersOf = (d: { title?: string; body?: string; actionUrl?: string }): string[] => [...new Set([d.title, d.body, d.actionUrl].flatMap((t) => (t ? placeholders(t) : [])))]
