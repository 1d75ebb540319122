// What the inbox family decides: whom a notification's targets reach, which items have expired,
// and what a client reads (the items not dismissed, newest first, with whether each was read).
import type * as Y from 'yjs'
import { entriesOf, mapOf, toMillis } from '../../common.ts'
import type { InboxItem } from './surface.ts'

/** A school member as targeting sees them (a roster entry, or a user the directory recorded). */
export interface Member {
  id: string
  role: string
  classes?: readonly string[]
  children?: readonly string[]
}

export interface Targets {
  users?: readonly string[]
  roles?: readonly string[]
  classes?: readonly string[]
}

/**
 * The ids a notification reaches, sorted. `users` are added as listed (also users no member list
 * names yet). `roles` and `classes` filter together: the members of those roles who are in one of
 * those classes, a parent being "in" the classes of their children (students of 7a, parents of
 * children in 7a, teachers of 7a). `roles` alone: those roles in the whole school. `classes`
 * alone: everyone in those classes, parents through their children.
 */
export function targetedIds(members: readonly Member[], targets: Targets): string[] {
  const roles = new Set(targets.roles ?? [])
  const classes = new Set(targets.classes ?? [])
  const ids = new Set(targets.users ?? [])
  if (roles.size > 0 || classes.size > 0) {
    const inClasses = (m: Member) => (m.classes ?? []).some((c) => classes.has(c))
    // A child is in a class when a student member lists it there.
    const pupils = new Set(members.filter((m) => m.role === 'student' && inClasses(m)).map((m) => m.id))
    const reached = (m: Member) => inClasses(m) || (m.role === 'parent' && (m.children ?? []).some((child) => pupils.has(child)))
    for (const m of members) {
      if (roles.size > 0 && !roles.has(m.role)) continue
      if (classes.size > 0 && !reached(m)) continue
      ids.add(m.id)
    }
  }
  return [...ids].sort()
}

/**
 * Ids of the items older than `cutoff` (INBOX_RETENTION_DAYS before now) that expire: every
 * priority but `urgent`, which stays until its owner dismisses it. An unreadable time never expires.
 */
export function expiredItems(doc: Y.Doc, cutoff: number): string[] {
  return entriesOf<InboxItem>(mapOf(doc, 'items'))
    .filter(([, item]) => item?.priority !== 'urgent' && (toMillis(item?.at) ?? Number.POSITIVE_INFINITY) < cutoff)
    .map(([id]) => id)
}

/** Removes expired items with their read and dismissed marks. */
export function removeExpiredItems(doc: Y.Doc, cutoff: number): void {
  for (const id of expiredItems(doc, cutoff)) for (const root of ['items', 'read', 'dismissed']) doc.getMap(root).delete(id)
}

/** The items the owner has not dismissed, newest first, with whether each was read. */
export function inboxItems(doc: Y.Doc): Array<InboxItem & { id: string; read: boolean }> {
  const read = mapOf(doc, 'read')
  const dismissed = mapOf(doc, 'dismissed')
  return entriesOf<InboxItem>(mapOf(doc, 'items'))
    .filter(([id]) => !dismissed.has(id))
    .map(([id, item]) => ({ ...item, id, read: read.has(id) }))
    .sort((a, b) => new Date(b.at).getTime() - new Date(a.at).getTime())
}
