// Rebuilding a document from storage: the newest snapshot (at or before a time) plus the
// journal entries after it. Loading, time travel and compaction all stand on this.
import * as Y from 'yjs'
import type { JournalEntry, Snapshot, Store } from './types.ts'

export interface Replayed {
  doc: Y.Doc
  /** Sequence number of the last entry included (0 when nothing is stored). */
  seq: number
  at: number
  /** Journal entries applied on top of the snapshot. */
  tail: JournalEntry[]
}

/** Applies stored updates to `target` (a fresh Y.Doc unless given). */
export async function replay(store: Store, name: string, options: { at?: number; target?: Y.Doc } = {}): Promise<Replayed> {
  const doc = options.target ?? new Y.Doc()
  const { snapshot, tail } = await readConsistently(store, name, options.at)
  const updates = [...(snapshot ? [snapshot.state] : []), ...tail.map((e) => e.update)]
  if (updates.length > 0) Y.applyUpdate(doc, updates.length === 1 ? updates[0] : Y.mergeUpdates(updates), 'storage')
  const last = tail.at(-1)
  return { doc, seq: last?.seq ?? snapshot?.seq ?? 0, at: last?.at ?? snapshot?.at ?? 0, tail }
}

/**
 * The snapshot and the entries after it. Two reads: if history was pruned between them (a newer
 * snapshot replaced the one read first), entries would be missing, so read again.
 */
async function readConsistently(store: Store, name: string, at?: number): Promise<{ snapshot?: Snapshot; tail: JournalEntry[] }> {
  for (;;) {
    const snapshot = await store.latestSnapshot(name, at)
    const tail = await store.entriesAfter(name, snapshot?.seq ?? 0, at)
    const current = await store.latestSnapshot(name, at)
    if (current?.seq === snapshot?.seq) return { snapshot, tail }
  }
}

/** Writes a snapshot covering the whole journal when at least `minTail` entries follow the last one. */
export async function compact(store: Store, name: string, minTail = 1): Promise<number | undefined> {
  const snapshot = await store.latestSnapshot(name)
  if ((await store.countAfter(name, snapshot?.seq ?? 0)) < minTail) return undefined
  const { doc, seq, at } = await replay(store, name)
  const state = Y.encodeStateAsUpdate(doc)
  doc.destroy()
  await store.writeSnapshot({ doc: name, seq, at, state })
  return state.byteLength
}
