// Journal rows as both SQL stores return them (same column names), and their conversion.
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
