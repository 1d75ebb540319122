// The inbox family: `s/inbox/<user>`, the shape of an item, the unread count the document
// decodes with, and the owner's write (marking read).
import { z } from 'zod'
import { boundedJson, decodeLayout, mapOf, MAX_OPEN_JSON_CHARS, time } from '../../common.ts'
import { named, server } from '../../who.ts'
import type { Role, Surface } from '../../types.ts'
import type * as Y from 'yjs'

export const PRIORITIES = ['low', 'normal', 'high', 'urgent'] as const

/** Who may send notifications (POST /api/v1/notifications); teachers only to their own classes. */
export const NOTIFIERS: readonly Role[] = ['service', 'admin', 'director', 'teacher']

export const inboxItem = z.strictObject({
  type: z.string().min(1).max(64),
  title: z.string().min(1).max(200),
  body: z.string().max(4000),
  priority: z.enum(PRIORITIES),
  at: time,
  actionUrl: z.string().max(500).optional(),
  data: boundedJson(MAX_OPEN_JSON_CHARS).optional(),
})
export type InboxItem = z.infer<typeof inboxItem>

const layout = {
  items: { kind: 'map', value: inboxItem },
  read: { kind: 'map', value: time },
  /** Items their owner put away: id → when. A dismissed item is neither listed nor unread. */
  dismissed: { kind: 'map', value: time },
} as const

export const inboxName = (school: string, user: string): string => `${school}/inbox/${user}`

/** Items neither read nor dismissed: the badge count of a notification bell. */
export function unreadCount(doc: Y.Doc): number {
  const read = mapOf(doc, 'read')
  const dismissed = mapOf(doc, 'dismissed')
  let unread = 0
  for (const id of mapOf(doc, 'items').keys()) if (!read.has(id) && !dismissed.has(id)) unread++
  return unread
}

/** `s/inbox/<user>`: one user's notifications; the server writes items, the user marks them read or dismisses them. */
export const inbox: Surface = {
  key: 'inbox',
  pattern: 'inbox/:user',
  layout,
  read: (user, ref) => user.sub === ref.params.user,
  writes: [
    { path: 'items', by: server },
    { path: 'read', by: named('user'), ops: ['insert'] },
    { path: 'dismissed', by: named('user'), ops: ['insert'] },
  ],
  decode: (d) => ({ ...decodeLayout(layout, d), unread: unreadCount(d) }),
}

/** Marks an item read (the owner of the inbox only). */
export function markItemRead(doc: Y.Doc, id: string, at: number = Date.now()): void {
  doc.getMap('read').set(id, at)
}

/** Dismisses an item: it leaves the owner's list and badge (the owner of the inbox only). */
export function dismissItem(doc: Y.Doc, id: string, at: number = Date.now()): void {
  doc.getMap('dismissed').set(id, at)
}
