// Pieces several surface families share: membership and read predicates, times, value schemas, decoding.
import * as Y from 'yjs'
import { z } from 'zod'
import { LEARNERS_AND_STAFF, type Identity, type RootDecl } from './types.ts'

export const isLearnerOrStaff = (user: Identity): boolean => LEARNERS_AND_STAFF.includes(user.role)

/** A member of the school; a service token with `schools: ["*"]` belongs to every school. */
export const belongsTo = (user: Identity, school: string): boolean => user.schools.includes(school) || user.schools[0] === '*'

/** Milliseconds since the epoch from a number or an ISO string; undefined when it is neither. */
export function toMillis(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? value : undefined
  if (typeof value === 'string') {
    const ms = Date.parse(value)
    return Number.isFinite(ms) ? ms : undefined
  }
  return undefined
}

/** Milliseconds since the epoch or an ISO string: clients write either. */
export const time = z.union([z.number().finite().nonnegative(), z.string().max(40)])
export const shortText = z.string().max(200)
export const MAX_MESSAGE_TEXT = 4000
export const userId = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/)

// Values are held to their layout: object schemas refuse unknown keys (`z.strictObject`), and
// every string, list and record has a maximum, so no field can carry a payload of its own.

/** A field name of an open record (event details). */
export const fieldName = z.string().min(1).max(64)
/** What an open record may hold: one short primitive per field, never a nested value. */
export const primitive = z.union([shortText, z.number().finite(), z.boolean(), z.null()])

/**
 * Whether no object in `value` has a prototype of its own. Decoding a `__proto__` key makes its
 * value the object's prototype: strict objects see its keys (they walk inherited ones), but
 * record and JSON schemas read own keys only, so they check this first.
 */
function plain(value: unknown): boolean {
  if (value === null || typeof value !== 'object') return true
  const proto = Object.getPrototypeOf(value)
  if (proto !== Object.prototype && proto !== Array.prototype) return false
  for (const inner of Object.values(value)) if (!plain(inner)) return false
  return true
}

/** Open keys, bounded: at most `maxFields` fields, each a bounded primitive. */
export const openRecord = (maxFields: number) =>
  z
    .unknown()
    .refine(plain, 'must be a plain object')
    .pipe(z.record(fieldName, primitive).refine((r) => Object.keys(r).length <= maxFields, `at most ${maxFields} fields`))

const json = z.json()

/**
 * Largest open JSON value (a dashboard entry, an inbox item's `data`), serialised. Generous: an
 * emergency escalation's `data` names every user who has not acknowledged.
 */
export const MAX_OPEN_JSON_CHARS = 256 * 1024

/**
 * Any JSON, at most `maxChars` characters serialised: for content the contract leaves open
 * ("anything JSON"). Typed `unknown`, as the open content is to its readers.
 */
export const boundedJson = (maxChars: number) =>
  z.unknown().superRefine((value, ctx) => {
    if (!plain(value) || !json.safeParse(value).success) ctx.addIssue({ code: 'custom', message: 'must be plain JSON' })
    else if (JSON.stringify(value).length > maxChars) ctx.addIssue({ code: 'custom', message: `at most ${maxChars} characters of JSON` })
  })

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

/** A finite number, or undefined. */
export const finiteNumber = (value: unknown): number | undefined => (typeof value === 'number' && Number.isFinite(value) ? value : undefined)

/** A map's entries, typed as what its layout holds. */
export const entriesOf = <T>(map: Y.Map<unknown>): Array<[string, T]> => [...map.entries()] as Array<[string, T]>

/** A short id, unique enough for one user's messages, elements and comments. */
export const newId = (): string => `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`

/** An object value of a map entry, or undefined when it is not one. */
export function record(value: unknown): Record<string, unknown> | undefined {
  return value !== null && typeof value === 'object' && !Array.isArray(value) && !(value instanceof Uint8Array)
    ? (value as Record<string, unknown>)
    : undefined
}
