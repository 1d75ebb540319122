// Snapshots and dropping history. A snapshot is written from the one replay, never from a state
// that left out an entry the store does not flag (that entry would vanish from every later load
// without a trace). `compact` writes one when enough entries follow the last (the loader's
// housekeeping); `truncateHistory` also deletes what the snapshot covers (`homeroom docs compact`,
// retention).
import * as Y from 'yjs'
import type { HistoryStore } from '../store/types.ts'
import { replay, type Replayed, type SkippedEntry } from './replay.ts'
import { historyBounds } from './time.ts'

/** Replays `name` (up to `at`) for a snapshot: refuses a state that left out an entry the store does not flag. */
async function replayForSnapshot(store: HistoryStore, name: string, options: { at?: number; onSkipped?: (skipped: SkippedEntry) => void }): Promise<Replayed> {
  const replayed = await replay(store, name, options)
  const unflagged = replayed.skipped.filter((s) => !s.flagged)
  if (unflagged.length > 0) {
    replayed.doc.destroy()
    throw new Error(`${name}: entries ${unflagged.map((s) => s.entry.seq).join(', ')} cannot be read and could not be quarantined; no snapshot written`, {
      cause: unflagged[0].flagError,
    })
  }
  return replayed
}

/** Writes a snapshot covering the whole journal when at least `minTail` entries follow the last one. Returns its size. */
export async function compact(
  store: HistoryStore,
  name: string,
  minTail = 1,
  options: { onSkipped?: (skipped: SkippedEntry) => void } = {},
): Promise<number | undefined> {
  const snapshot = await store.latestSnapshot(name)
  if ((await store.countAfter(name, snapshot?.seq ?? 0)) < minTail) return undefined
  const { doc, seq, at } = await replayForSnapshot(store, name, { onSkipped: options.onSkipped })
  const state = Y.encodeStateAsUpdate(doc)
  doc.destroy()
  await store.writeSnapshot({ doc: name, seq, at, state })
  return state.byteLength
}

/**
 * Drops history up to `until`: writes a snapshot at the last entry at or before `until` and deletes
 * every older entry and snapshot. Entries are followed in sequence order, so an entry is only ever
 * deleted once a snapshot holds it. Returns undefined when nothing is stored up to `until`.
 *
 * With `concurrent`, a server may be replaying the document meanwhile: a replay that picked the
 * newest snapshot still needs every entry after it. So only history before the newest snapshot
 * that existed before this call is deleted; the rest goes on the next call (retention runs daily).
 */
export async function truncateHistory(
  store: HistoryStore,
  name: string,
  until = Number.POSITIVE_INFINITY,
  options: { concurrent?: boolean } = {},
): Promise<{ seq: number; dropped: number } | undefined> {
  const newest = options.concurrent ? ((await store.latestSnapshot(name))?.seq ?? 0) : Number.POSITIVE_INFINITY
  const { doc, seq, at, tail, skipped } = await replayForSnapshot(store, name, { at: Number.isFinite(until) ? until : undefined })
  try {
    if (seq === 0) return undefined
    // Entries replayed on top of the snapshot (or of nothing): the snapshot at `seq` is not written yet.
    if (tail.length > 0 || skipped.length > 0) await store.writeSnapshot({ doc: name, seq, at, state: Y.encodeStateAsUpdate(doc) })
    const prunePoint = Math.min(seq, newest)
    const base = (await historyBounds(store, name)).base?.seq ?? 0
    if (prunePoint === 0 || base >= prunePoint) return { seq, dropped: 0 }
    return { seq, dropped: await store.pruneBefore(name, prunePoint) }
  } finally {
    doc.destroy()
  }
}
