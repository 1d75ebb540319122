// An event a back end sends (through the Redis stream or POST /api/v1/events): its shape, and its
// delivery as one inbox item per recipient through the notification path (the roster's targets,
// `deliverInBatches`). The event id is the idempotency key: its item lands under `event:<id>` and
// the event is recorded under its id, so a redelivery completes an interrupted delivery and adds
// nothing where the item already is, and an id reused for another event is refused.
import { createHash } from 'node:crypto'
import { z } from 'zod'
import { SEGMENT } from '../../docs-model/names.ts'
import { PRIORITIES, type InboxItem } from '../../docs-model/surfaces/inbox/surface.ts'
import type { Homeroom } from '../homeroom.ts'
import { resolveTargets } from '../inbox.ts'
import { actionUrl, canonicalJson, deliverInBatches, notificationData, notificationTargets } from '../routes/notifications.ts'

const segment = z.string().regex(SEGMENT)

export const incomingEvent = z.strictObject({
  /** The idempotency key: an id delivers once, however often it is sent. */
  id: segment,
  school: segment,
  type: z.string().regex(/^[A-Za-z0-9_.:-]{1,64}$/, 'letters, digits and _ . : - only, at most 64'),
  targets: notificationTargets,
  title: z.string().min(1).max(200),
  body: z.string().max(4000).optional(),
  data: notificationData.optional(),
  priority: z.enum(PRIORITIES).optional(),
  actionUrl: actionUrl.optional(),
})
export type IncomingEvent = z.output<typeof incomingEvent>

/** An event that can never be delivered as sent (bad shape, an id taken by another event): not worth retrying. */
export class EventRefused extends Error {
  readonly code: 'bad-event' | 'conflict'
  constructor(code: 'bad-event' | 'conflict', message: string) {
    super(message)
    this.code = code
  }
}

/** The inbox item id of an event. */
export const eventItemKey = (id: string): string => `event:${id}`

/** Parses an event; EventRefused names the first bad field. */
export function parseEvent(input: unknown): IncomingEvent {
  const parsed = incomingEvent.safeParse(input)
  if (parsed.success) return parsed.data
  const issue = parsed.error.issues[0]
  throw new EventRefused('bad-event', `${issue.path.join('.') || 'event'}: ${issue.message}`)
}

export interface Received {
  /** The inbox item id. */
  item: string
  recipients: number
  /** The id was received before (with this same content). */
  duplicate: boolean
}

/**
 * Delivers an event; resolves once every recipient's item is journaled. A repeat of a received
 * event delivers only to recipients still without it (with the first time); an id received with
 * other content throws EventRefused('conflict'). Other errors are worth retrying.
 */
export async function receiveEvent(app: Homeroom, event: IncomingEvent): Promise<Received> {
  const priority = event.priority ?? 'normal'
  const digest = createHash('sha256').update(canonicalJson(event)).digest('base64url')
  const recorded = await app.eventStore.recordEvent({ id: event.id, school: event.school, type: event.type, priority, digest, at: Date.now() })
  if (recorded.outcome === 'conflict') throw new EventRefused('conflict', `event id ${event.id} was already used for another event; use a new id`)
  const recipients = resolveTargets(await app.store.roster(event.school), event.targets)
  const item: InboxItem = {
    type: event.type,
    title: event.title,
    body: event.body ?? '',
    priority,
    at: recorded.at,
    ...(event.actionUrl !== undefined ? { actionUrl: event.actionUrl } : {}),
    ...(event.data !== undefined ? { data: event.data } : {}),
  }
  const key = eventItemKey(event.id)
  await deliverInBatches(app, event.school, recipients, key, item)
  await app.eventStore.setRecipients(event.id, recipients.length)
  return { item: key, recipients: recipients.length, duplicate: recorded.outcome === 'same' }
}
