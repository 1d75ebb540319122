// Event types: what a school declares for a kind of event (its default priority, the roles it
// reaches, a title and body template, an action URL template), so an event of that type may carry
// only its id, school, type and data. Templates fill `{{field}}` (or `{{a.b}}`) from the event's
// `data`; a placeholder without a value refuses the event, naming it.
import { z } from 'zod'
import { ROLES } from '../../docs-model/types.ts'
import { PRIORITIES } from '../../docs-model/surfaces/inbox/surface.ts'

const PLACEHOLDER = /\{\{\s*([A-Za-z0-9_]+(?:\.[A-Za-z0-9_]+)*)\s*\}\}/g

export const eventTypeDefinition = z.strictObject({
  priority: z.enum(PRIORITIES).optional(),
  /** Whom an event of this type reaches when it names no targets: these roles in the school. */
  targetRoles: z.array(z.enum(ROLES)).min(1).max(8).optional(),
  title: z.string().min(1).max(400).optional(),
  body: z.string().max(8000).optional(),
  /** A path or http(s) URL once filled in; values are URL-encoded. */
  actionUrl: z.string().min(1).max(1000).optional(),
  description: z.string().max(1000).optional(),
})
export type EventTypeDefinition = z.output<typeof eventTypeDefinition>

/** A placeholder the data cannot fill. */
export class TemplateError extends Error {}

/** The placeholders of a template, in order. */
export const placeholders = (template: string): string[] => [...template.matchAll(PLACEHOLDER)].map((m) => m[1])

function lookup(data: unknown, path: string): unknown {
  let value: unknown = data
  for (const key of path.split('.')) {
    if (value === null || typeof value !== 'object' || !Object.hasOwn(value, key)) return undefined
    value = (value as Record<string, unknown>)[key]
  }
  return value
}

/** Fills a template from `data`; `encode` escapes each value (URL templates). Throws TemplateError for a missing value. */
export function render(template: string, data: unknown, encode: (value: string) => string = (v) => v): string {
  return template.replace(PLACEHOLDER, (_, path: string) => {
    const value = lookup(data, path)
    if (value === undefined || value === null) throw new TemplateError(`data.${path} is needed by the template and missing`)
    return encode(typeof value === 'object' ? JSON.stringify(value) : String(value))
  })
}
