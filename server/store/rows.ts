// Rows as both SQL stores read and write them (same column names), and their conversion.
import type { JournalEntry } from './types.ts'

export interface EntryRow {
  seq: number
  doc: string
  at: number
  user: string | null
  origin: JournalEntry['origin']
  update_bytes: Buffer
}

/** A view of the driver's Buffer as a plain Uint8Array, without copying. */
export const bytes = (value: Buffer): Uint8Array => new Uint8Array(value.buffer, value.byteOffset, value.byteLength)

export const toEntry = (r: EntryRow): JournalEntry => ({ seq: r.seq, doc: r.doc, at: r.at, user: r.user, origin: r.origin, update: bytes(r.update_bytes) })

/** `school/surface/…` → the school and surface word stored with a document for listings. */
export function nameParts(name: string): { school: string; surface: string } {
  const [school = '', surface = ''] = name.split('/')
  return { school, surface }
}
