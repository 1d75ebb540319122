// Pieces several surface declarations share: read predicates, value schemas, decoding.
import * as Y from 'yjs'
import { z } from 'zod'
import { LEARNERS_AND_STAFF, type Identity, type RootDecl, type Role } from './types.ts'

export const isLearnerOrStaff = (user: Identity): boolean => LEARNERS_AND_STAFF.includes(user.role)
export const hasRole = (user: Identity, ...roles: Role[]): boolean => roles.includes(user.role)

/** Milliseconds since the epoch or an ISO string: clients write either. */
export const time = z.union([z.number().finite().nonnegative(), z.string().max(40)])
export const shortText = z.string().max(200)
export const MAX_MESSAGE_TEXT = 4000
export const userId = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/)

/** The server's copy of a root type, or undefined if a client declared it with another kind. */
export function root(doc: Y.Doc, name: string, kind: RootDecl['kind']): Y.AbstractType<any> | undefined {
  try {
    switch (kind) {
      case 'map': return doc.getMap(name)
      case 'array': return doc.getArray(name)
      case 'xml': return doc.getXmlFragment(name)
      case 'text': return doc.getText(name)
    }
  } catch {
    return undefined
  }
}

export function mapOf(doc: Y.Doc, name: string): Y.Map<unknown> {
  return (root(doc, name, 'map') as Y.Map<unknown> | undefined) ?? new Y.Map()
}

export function arrayOf(doc: Y.Doc, name: string): Y.Array<unknown> {
  return (root(doc, name, 'array') as Y.Array<unknown> | undefined) ?? new Y.Array()
}

/** Every root of the layout as plain JSON (XML fragments as their XML text). */
export function decodeLayout(layout: Record<string, RootDecl>, doc: Y.Doc): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const [name, decl] of Object.entries(layout)) {
    const type = root(doc, name, decl.kind)
    out[name] = type ? type.toJSON() : null
  }
  return out
}

/** An object value of a map entry, or undefined when it is not one. */
export function record(value: unknown): Record<string, unknown> | undefined {
  return value !== null && typeof value === 'object' && !Array.isArray(value) && !(value instanceof Uint8Array)
    ? (value as Record<string, unknown>)
    : undefined
}
