// An event a back end sends (through the Redis stream or POST /api/v1/events): its shape, and its
// delivery as one inbox item per recipient through the notification path (the roster's targets,
// `deliverInBatches`). The event id is the idempotency key: its item lands under `event:<id>` and
// the event is recorded under its id, so a redelivery completes an interrupted delivery and adds
// nothing where the item already is, and an id reused for another event is refused. An event of
// a declared type (templates.ts) takes what it leaves out from the type.
import { createHash } from 'node:crypto'
import { z } from 'zod'
import { SEGMENT } from '../../docs-model/names.ts'
import { inboxName, PRIORITIES, type InboxItem } from '../../docs-model/surfaces/inbox/surface.ts'
import { mapOf } from '../../docs-model/common.ts'
import { replay } from '../history/replay.ts'
import { serverWrite } from '../writes.ts'
import type { Homeroom } from '../homeroom.ts'
import { targetedIds } from '../../docs-model/surfaces/inbox/state.ts'
import { actionUrl, canonicalJson, deliverInBatches, notificationData, notificationTargets } from '../routes/notifications.ts'
import { render, TemplateError, type EventTypeDefinition } from './templates.ts'

const segment = z.string().regex(SEGMENT)

export const incomingEvent = z.strictObject({
  /** The idempotency key: an id delivers once, however often it is sent. */
  id: segment,
  school: segment,
  type: z.string().regex(/^[A-Za-z0-9_.:-]{1,64}$/, 'letters, digits and _ . : - only, at most 64'),
  /** Optional when the type declares `targetRoles`. */
  targets: notificationTargets.optional(),
  /** Optional when the type declares a title template. */
  title: z.string().min(1).max(200).optional(),
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
  const declared = await app.eventStore.eventType(event.school, event.type)
  const { targets, item } = itemOf(event, declared)
  const digest = createHash('sha256').update(canonicalJson(event)).digest('base64url')
  const recorded = await app.eventStore.recordEvent({ id: event.id, school: event.school, type: event.type, priority: item.priority, digest, at: Date.now() })
  if (recorded.outcome === 'conflict') throw new EventRefused('conflict', `event id ${event.id} was already used for another event; use a new id`)
  const recipients = targetedIds(await app.directory.members(event.school), targets)
  const key = eventItemKey(event.id)
  const full: InboxItem = { ...item, at: recorded.at }
  await deliverInBatches(app, event.school, recipients, key, full)
  // A redelivery follows a consumer that may have died after writing an item but before it was
  // journaled, while another instance's copy of the inbox already holds it (server writes reach
  // peers as they happen): `deliver` would see it and skip it. So a repeat makes sure of storage.
  if (recorded.outcome === 'same') await restoreUnjournaled(app, event.school, recipients, key, full)
  await Promise.all(recipients.map((user) => app.journaled(inboxName(event.school, user))))
  await app.eventStore.setRecipients(event.id, recipients.length)
  return { item: key, recipients: recipients.length, duplicate: recorded.outcome === 'same' }
}

/** Writes the item again into each inbox whose stored state lacks it (a live copy may hold an unjournaled one). */
async function restoreUnjournaled(app: Homeroom, school: string, recipients: string[], key: string, item: InboxItem): Promise<void> {
  for (const user of recipients) {
    const name = inboxName(school, user)
    const { doc: stored } = await replay(app.store, name)
    const missing = !mapOf(stored, 'items').has(key)
    stored.destroy()
    if (!missing) continue
    await serverWrite(app.hocuspocus, name, (doc) => mapOf(doc, 'items').set(key, item))
    app.log.warn({ doc: name, item: key }, 'an event item held in memory but not journaled was written again')
  }
}

const clip = (text: string, max: number): string => (text.length <= max ? text : `${text.slice(0, max - 1)}…`)

/** The event's targets and inbox item (without its time): what it says, else what its type declares, templates filled from `data`. */
function itemOf(event: IncomingEvent, type: EventTypeDefinition | undefined): { targets: NonNullable<IncomingEvent['targets']>; item: Omit<InboxItem, 'at'> } {
  const fill = (field: string, template: string | undefined, encode?: (v: string) => string): string | undefined => {
    if (template === undefined) return undefined
    try {
      return render(template, event.data, encode)
    } catch (error) {
      if (error instanceof TemplateError) throw new EventRefused('bad-event', `${field}: ${error.message} (type ${event.type})`)
      throw error
    }
  }
  const targets = event.targets ?? (type?.targetRoles ? { roles: type.targetRoles } : undefined)
  if (!targets) throw new EventRefused('bad-event', `targets: required, as type ${event.type} of school ${event.school} declares no targetRoles`)
  const title = event.title ?? fill('title', type?.title)
  if (title === undefined) throw new EventRefused('bad-event', `title: required, as type ${event.type} of school ${event.school} declares no title template`)
  const link = event.actionUrl ?? fill('actionUrl', type?.actionUrl, encodeURIComponent)
  if (link !== undefined && !actionUrl.safeParse(link).success) throw new EventRefused('bad-event', `actionUrl: ${link.slice(0, 100)} must be a path starting with / or an http(s) URL`)
  return {
    targets,
    item: {
      type: event.type,
      title: clip(title, 200),
      body: clip(event.body ?? fill('body', type?.body) ?? '', 4000),
      priority: event.priority ?? type?.priority ?? 'normal',
      ...(link !== undefined ? { actionUrl: link } : {}),
      ...(event.data !== undefined ? { data: event.data } : {}),
    },
  }
}
