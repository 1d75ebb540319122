// Rebuilding a document from storage: the newest snapshot (at or before a time) plus the
// journal entries after it. Loading, time travel and compaction all stand on this.
//
// The fast path merges snapshot and tail and applies them once. When that throws, some entry
// cannot be read (an Any value nested deep enough to overflow lib0's reader, bytes that are not
// a Yjs update): the entries are then taken one by one, each decoded before it is applied, and
// an entry that fails is quarantined (flagged in the store, kept in the journal, left out of
// every later read), so the document opens with everything else instead of never again.
import * as Y from 'yjs'
import type { JournalEntry, Snapshot, Store } from './types.ts'

/** An entry a replay left out because it could not be read. */
export interface SkippedEntry {
  entry: JournalEntry
  reason: string
  /** Whether the store now flags it (false when flagging failed, e.g. on a read-only store). */
  flagged: boolean
  /** Why flagging failed, when it did. */
  flagError?: unknown
}

export interface Replayed {
  doc: Y.Doc
  /** Sequence number of the last entry included (0 when nothing is stored). */
  seq: number
  at: number
  /** Journal entries applied on top of the snapshot. */
  tail: JournalEntry[]
  /** Entries read but left out because they could not be read; each was quarantined unless `flagged` is false. */
  skipped: SkippedEntry[]
}

export interface ReplayOptions {
  at?: number
  target?: Y.Doc
  /** Told of each entry this replay set aside (for logs and metrics). */
  onSkipped?: (skipped: SkippedEntry) => void
}

/** The origin of transactions that apply stored state. */
export const STORAGE_ORIGIN = 'storage'

/** The error's message, led by its kind unless that is a plain Error (`RangeError: Maximum call stack size exceeded`). */
const message = (error: unknown): string =>
  error instanceof Error ? (error.name === 'Error' ? error.message : `${error.name}: ${error.message}`) : String(error)

/**
 * Thrown when an entry failed while being applied (it decoded, yet integrating it threw) after
 * the target document had already taken part of the merged state: the culprit is quarantined by
 * then, so loading again succeeds.
 */
export class ReplayRetry extends Error {}

/** Applies stored updates to `target` (a fresh Y.Doc unless given). */
export async function replay(store: Store, name: string, options: ReplayOptions = {}): Promise<Replayed> {
  const doc = options.target ?? new Y.Doc()
  const { snapshot, tail } = await readConsistently(store, name, options.at)
  const result = (applied: JournalEntry[], skipped: SkippedEntry[]): Replayed => {
    const last = tail.at(-1)
    return { doc, seq: last?.seq ?? snapshot?.seq ?? 0, at: last?.at ?? snapshot?.at ?? 0, tail: applied, skipped }
  }
  let merged: Uint8Array | undefined
  try {
    merged = mergeStored(snapshot, tail)
  } catch {
    // Nothing was applied yet: take the entries one by one on the target itself.
    const { applied, skipped } = await applyOneByOne(store, doc, snapshot, tail, options.onSkipped)
    return result(applied, skipped)
  }
  if (merged === undefined) return result([], [])
  try {
    Y.applyUpdate(doc, merged, STORAGE_ORIGIN)
  } catch (error) {
    if (tail.length === 0) throw error // a snapshot alone: nothing to set aside
    // The target may hold part of the merged state now; find the culprit on a scratch document.
    const scratch = new Y.Doc()
    try {
      const { skipped } = await applyOneByOne(store, scratch, snapshot, tail, options.onSkipped)
      if (skipped.length === 0) throw error
    } finally {
      scratch.destroy()
    }
    throw new ReplayRetry(`${name}: an entry failed while being applied and was quarantined; load the document again`, { cause: error })
  }
  return result(tail, [])
}

/**
 * Snapshot and tail as one update, decoded in full (mergeUpdates reads every struct and value),
 * so a throw here means nothing was applied. A single journal entry is decoded explicitly, since
 * merging one update returns it unread; a snapshot alone was written from a sound document.
 */
function mergeStored(snapshot: Snapshot | undefined, tail: JournalEntry[]): Uint8Array | undefined {
  const updates = [...(snapshot ? [snapshot.state] : []), ...tail.map((e) => e.update)]
  if (updates.length === 0) return undefined
  if (updates.length > 1) return Y.mergeUpdates(updates)
  if (!snapshot) Y.decodeUpdate(updates[0])
  return updates[0]
}

/** The slow path: each entry decoded first and applied only if it decodes; the rest quarantined. */
async function applyOneByOne(
  store: Store,
  doc: Y.Doc,
  snapshot: Snapshot | undefined,
  tail: JournalEntry[],
  onSkipped?: (skipped: SkippedEntry) => void,
): Promise<{ applied: JournalEntry[]; skipped: SkippedEntry[] }> {
  if (snapshot) Y.applyUpdate(doc, snapshot.state, STORAGE_ORIGIN)
  const applied: JournalEntry[] = []
  const skipped: SkippedEntry[] = []
  for (const entry of tail) {
    const reason = applyIfReadable(doc, entry.update)
    if (reason === undefined) applied.push(entry)
    else skipped.push(await setAside(store, entry, reason, onSkipped))
  }
  return { applied, skipped }
}

/** Applies `update` if it decodes; otherwise (or when applying throws) returns why not. */
export function applyIfReadable(doc: Y.Doc, update: Uint8Array): string | undefined {
  try {
    // Reads every struct and value exactly like applyUpdate's reader, without touching `doc`.
    Y.decodeUpdate(update)
  } catch (error) {
    return `does not decode: ${message(error)}`
  }
  try {
    Y.applyUpdate(doc, update, STORAGE_ORIGIN)
  } catch (error) {
    return `decodes but cannot be applied: ${message(error)}`
  }
  return undefined
}

async function setAside(store: Store, entry: JournalEntry, reason: string, onSkipped?: (skipped: SkippedEntry) => void): Promise<SkippedEntry> {
  let skipped: SkippedEntry
  try {
    await store.quarantine(entry.doc, entry.seq, reason)
    skipped = { entry, reason, flagged: true }
  } catch (error) {
    skipped = { entry, reason, flagged: false, flagError: error }
  }
  onSkipped?.(skipped)
  return skipped
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

/**
 * Writes a snapshot covering the whole journal when at least `minTail` entries follow the last one.
 * Never from a state that left out an entry the store does not flag: that entry would be lost
 * from every later load without a trace.
 */
export async function compact(
  store: Store,
  name: string,
  minTail = 1,
  options: { onSkipped?: (skipped: SkippedEntry) => void } = {},
): Promise<number | undefined> {
  const snapshot = await store.latestSnapshot(name)
  if ((await store.countAfter(name, snapshot?.seq ?? 0)) < minTail) return undefined
  const { doc, seq, at, skipped } = await replay(store, name, { onSkipped: options.onSkipped })
  const unflagged = skipped.filter((s) => !s.flagged)
  if (unflagged.length > 0) {
    doc.destroy()
    throw new Error(`${name}: entries ${unflagged.map((s) => s.entry.seq).join(', ')} cannot be read and could not be quarantined; no snapshot written`, {
      cause: unflagged[0].flagError,
    })
  }
  const state = Y.encodeStateAsUpdate(doc)
  doc.destroy()
  await store.writeSnapshot({ doc: name, seq, at, state })
  return state.byteLength
}
