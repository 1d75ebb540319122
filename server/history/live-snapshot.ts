// Snapshots of a loaded document, encoded from its live Y.Doc instead of replayed from storage,
// so a snapshot costs the size of the document, not of its history. The live copy may lag the
// store: another instance's entry can be journaled before Redis delivers it here, and an update
// is journaled a moment before Hocuspocus applies it. So a live snapshot is written only when the
// live document holds every stored entry it would cover (checked on the merged entries: their
// structs by state vector, their deletions by delete set), and only if the document did not
// change while the store was read (the snapshot must not hold anything after its sequence
// number, or time travel would show it early). Otherwise the caller replays (prune.ts `compact`).
import * as Y from 'yjs'
import type { JournalStore } from '../store/types.ts'
import { mergeAll } from './merge.ts'

export type LiveSnapshot =
  | { written: true; seq: number; bytes: number }
  /** Nothing stored after `covered` that the newest snapshot does not hold already. */
  | { written: false; why: 'current' }
  /** The live document changed while the store was read: try again. */
  | { written: false; why: 'changed' }
  /** The live document lacks stored entries, or one of them cannot be read: replay instead. */
  | { written: false; why: 'uncovered' }

export interface LiveSnapshotInput {
  store: JournalStore
  name: string
  doc: Y.Doc
  /** The sequence number up to which the live document is known to hold every entry (its load, its last live snapshot). */
  covered: number
  /** A count of the live document's changes (it must not move while the store is read). */
  changes: () => number
}

export async function snapshotLive({ store, name, doc, covered, changes }: LiveSnapshotInput): Promise<LiveSnapshot> {
  const before = changes()
  const latest = await store.latestSnapshot(name)
  const tail = await store.entriesAfter(name, covered)
  if (changes() !== before) return { written: false, why: 'changed' }
  const last = tail.at(-1)
  if (!last || (latest && latest.seq >= last.seq)) return { written: false, why: 'current' }
  // A snapshot newer than what this document was loaded from (another instance's) must be held too.
  let merged: Uint8Array
  try {
    // A snapshot newer than what this document was loaded from (another instance's) must be held too.
    merged = mergeAll(tail.map((e) => e.update), latest && latest.seq > covered ? latest.state : undefined)
  } catch {
    return { written: false, why: 'uncovered' }
  }
  if (!Y.snapshotContainsUpdate(Y.snapshot(doc), merged)) return { written: false, why: 'uncovered' }
  const state = Y.encodeStateAsUpdate(doc)
  Y.decodeUpdate(state) // never store what cannot be read back (throws to the caller)
  await store.writeSnapshot({ doc: name, seq: last.seq, at: last.at, state })
  return { written: true, seq: last.seq, bytes: state.byteLength }
}
