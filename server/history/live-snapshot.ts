// Snapshots of a loaded document, encoded from its live Y.Doc instead of replayed from storage,
// so a snapshot costs the size of the document, not of its history. The live copy may lag the
// store: another instance's entry can be journaled before Redis delivers it here, and an update
// is journaled a moment before Hocuspocus applies it. So a live snapshot is written only when the
// live document holds every stored entry it would cover (each entry decoded and checked: its
// structs by state vector, its deletions by delete set), and only if the document did not
// change while the store was read (the snapshot must not hold anything after its sequence
// number, or time travel would show it early). Otherwise the caller replays (prune.ts `compact`).
import * as Y from 'yjs'
import type { JournalStore } from '../store/types.ts'

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
  const newer = latest && latest.seq > covered ? latest.state : undefined
  if (!holdsAll(doc, tail.map((e) => e.update), newer)) return { written: false, why: 'uncovered' }
  const state = Y.encodeStateAsUpdate(doc)
  Y.decodeUpdate(state) // never store what cannot be read back (throws to the caller)
  await store.writeSnapshot({ doc: name, seq: last.seq, at: last.at, state })
  return { written: true, seq: last.seq, bytes: state.byteLength }
}

/**
 * Whether `doc` holds every one of `updates` (and `base`, a snapshot): each update decoded in
 * full (one that cannot be read is not held), its structs within the document's state vector,
 * its deleted ranges within the document's delete set. Entry by entry, against one snapshot of
 * the document: Yjs' snapshotContainsUpdate merges the document's whole delete set per call,
 * and merging the entries first costs more than checking them.
 */
export function holdsAll(doc: Y.Doc, updates: readonly Uint8Array[], base?: Uint8Array): boolean {
  const held = Y.snapshot(doc)
  if (base && !Y.snapshotContainsUpdate(held, base)) return false
  for (const update of updates) {
    let decoded: ReturnType<typeof Y.decodeUpdate>
    try {
      decoded = Y.decodeUpdate(update)
    } catch {
      return false
    }
    // Skips (gaps in a merged entry) count as structs: conservative, a replay follows.
    for (const struct of decoded.structs) {
      if ((held.sv.get(struct.id.client) ?? 0) < struct.id.clock + struct.length) return false
    }
    for (const [client, ranges] of decoded.ds.clients) {
      const deleted = held.ds.clients.get(client)
      if (!deleted) return false
      for (const { clock, len } of ranges) if (!withinDeleted(deleted, clock, len)) return false
    }
  }
  return true
}

/** Whether [clock, clock + len) lies in one of `deleted`'s ranges (sorted and merged, as a document's delete set is). */
function withinDeleted(deleted: ReadonlyArray<{ clock: number; len: number }>, clock: number, len: number): boolean {
  let low = 0
  let high = deleted.length - 1
  while (low <= high) {
    const middle = (low + high) >> 1
    const range = deleted[middle]
    if (range.clock + range.len <= clock) low = middle + 1
    else if (range.clock > clock) high = middle - 1
    else return clock + len <= range.clock + range.len
  }
  return false
}
