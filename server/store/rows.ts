// Rows as both SQL stores read and write them (same column names), and their conversion.
import { unpack, type Packing } from './packing.ts'
import type { JournalEntry, ServerBeat, Snapshot } from './types.ts'

export interface EntryRow {
  seq: number
  doc: string
  at: number
  user: string | null
  origin: JournalEntry['origin']
  update_bytes: Buffer
  packed: Packing
}

export interface SnapshotRow {
  doc: string
  seq: number
  at: number
  state: Buffer
  packed: Packing
}

/** A view of the driver's Buffer as a plain Uint8Array, without copying. */
export const bytes = (value: Buffer): Uint8Array => new Uint8Array(value.buffer, value.byteOffset, value.byteLength)

export const toEntry = (r: EntryRow): JournalEntry => ({ seq: r.seq, doc: r.doc, at: r.at, user: r.user, origin: r.origin, update: unpack(bytes(r.update_bytes), r.packed) })

export const toSnapshot = (r: SnapshotRow): Snapshot => ({ doc: r.doc, seq: r.seq, at: r.at, state: unpack(bytes(r.state), r.packed) })

/** `school/surface/…` → the school and surface word stored with a document for listings. */
export function nameParts(name: string): { school: string; surface: string } {
  const [school = '', surface = ''] = name.split('/')
  return { school, surface }
}

/** A heartbeat row: the figures as JSON text (null for servers that report none). */
export type ServerRow = Omit<ServerBeat, 'figures'> & { figures: string | null }

export const figuresColumn = (beat: ServerBeat): string | null => (beat.figures ? JSON.stringify(beat.figures) : null)

export function toBeat<T extends ServerRow>({ figures, ...row }: T): Omit<T, 'figures'> & Pick<ServerBeat, 'figures'> {
  return figures === null ? row : { ...row, figures: JSON.parse(figures) }
}
