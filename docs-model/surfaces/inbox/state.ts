// What the inbox family decides: whom a notification's targets reach, and what a client reads
// (the items, newest first, with whether each was read).
import type * as Y from 'yjs'
import { entriesOf, mapOf } from '../../common.ts'
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

export function inboxItems(doc: Y.Doc): Array<InboxItem & { id: string; read: boolean }> {
  const read = mapOf(doc, 'read')
  return entriesOf<InboxItem>(mapOf(doc, 'items'))
    .map(([id, item]) => ({ ...item, id, read: read.has(id) }))
    .sort((a, b) => new Date(b.at).getTime() - new Date(a.at).getTime())
}
