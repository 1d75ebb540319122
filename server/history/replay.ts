// Rebuilding a document from storage: the newest snapshot (at or before a time) plus the
// journal entries after it. This is the one replay: loading, observers, time travel, compaction
// and retention stand on `replay`; `homeroom docs verify` and the history trace walk the same
// journal with `walk` and apply each entry with `applyIfReadable`.
//
// The fast path applies the snapshot, then the tail merged into one update (merge.ts). When
// that throws, some entry cannot be read (an Any value nested deep enough to overflow lib0's
// reader, bytes that are not a Yjs update): the entries are then taken one by one, each decoded before it is applied, and
// an entry that fails is quarantined (flagged in the store, kept in the journal, left out of
// every later read), so the document opens with everything else instead of never again.
//
// The state at a time is a prefix of the journal: entries are taken in sequence order up to the
// first one written after that time. Their clocks need not agree (several instances append), and
// a prefix never holds an entry without the earlier ones it may build on. The prefix is read page
// by page, so its cost is bounded by the snapshot interval, not by how much journal follows.
import * as Y from 'yjs'
import type { HistoryStore, JournalEntry, JournalStore, Snapshot } from '../store/types.ts'
import { checkedBounds } from './time.ts'
import { mergeAll } from './merge.ts'

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
  /** Only the journal up to the first entry written after `at` (the state at that time). */
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
export async function replay(store: HistoryStore, name: string, options: ReplayOptions = {}): Promise<Replayed> {
  const doc = options.target ?? new Y.Doc()
  const { snapshot, tail } = await readConsistently(store, name, options.at)
  const result = (applied: JournalEntry[], skipped: SkippedEntry[]): Replayed => {
    const last = tail.at(-1)
    return { doc, seq: last?.seq ?? snapshot?.seq ?? 0, at: last?.at ?? snapshot?.at ?? 0, tail: applied, skipped }
  }
  let merged: Uint8Array | undefined
  try {
    merged = tail.length > 0 ? mergeAll(tail.map((e) => e.update)) : undefined
  } catch {
    // Nothing was applied yet: take the entries one by one on the target itself.
    const { applied, skipped } = await applyOneByOne(store, doc, snapshot, tail, options.onSkipped)
    return result(applied, skipped)
  }
  try {
    // The snapshot as it is stored (no merge re-encoding it), then the tail in one transaction.
    if (snapshot) applyStored(doc, snapshot.state)
    if (merged) applyStored(doc, merged)
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
 * Applies stored state without the document's `update` listeners: for them Yjs would encode the
 * applied state once more (as long as parsing it, for a large document), and the state a replay
 * applies is what the document is loaded with, not a change to pass on (Hocuspocus' own listener
 * would broadcast it to connections a loading document does not have yet).
 */
function applyStored(doc: Y.Doc, update: Uint8Array): void {
  const observers = (doc as unknown as { _observers?: Map<string, unknown> })._observers
  const listeners = observers instanceof Map ? observers.get('update') : undefined
  if (listeners === undefined) {
    Y.applyUpdate(doc, update, STORAGE_ORIGIN)
    return
  }
  observers!.delete('update')
  try {
    Y.applyUpdate(doc, update, STORAGE_ORIGIN)
  } finally {
    observers!.set('update', listeners)
  }
}

/** The slow path: each entry decoded first and applied only if it decodes; the rest quarantined. */
async function applyOneByOne(
  store: HistoryStore,
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

async function setAside(store: HistoryStore, entry: JournalEntry, reason: string, onSkipped?: (skipped: SkippedEntry) => void): Promise<SkippedEntry> {
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
async function readConsistently(store: JournalStore, name: string, at?: number): Promise<{ snapshot?: Snapshot; tail: JournalEntry[] }> {
  for (;;) {
    const snapshot = await store.latestSnapshot(name, at)
    const tail = await readTail(store, name, snapshot?.seq ?? 0, at)
    // Only the newest snapshot's sequence number: its state need not be read and inflated again.
    const current = (await store.listSnapshots(name)).findLast((s) => at === undefined || s.at <= at)
    if (current?.seq === snapshot?.seq) return { snapshot, tail }
  }
}

/** The entries after `seq`: all of them, or those before the first entry written after `at`. */
async function readTail(store: JournalStore, name: string, seq: number, at?: number): Promise<JournalEntry[]> {
  if (at === undefined) return store.entriesAfter(name, seq)
  const tail: JournalEntry[] = []
  await walk(store, name, seq, (entry) => {
    if (entry.at > at) return false
    tail.push(entry)
  })
  return tail
}

// Matches the default snapshot interval: one page usually covers the entries after a snapshot.
const PAGE = 500

/** Visits a document's stored entries after `afterSeq` in order, page by page, until `visit` returns false. */
export async function walk(
  store: JournalStore,
  name: string,
  afterSeq: number,
  visit: (entry: JournalEntry) => boolean | void | Promise<boolean | void>,
): Promise<void> {
  for (let seq = afterSeq; ; ) {
    const page = await store.entriesPage(name, seq, PAGE)
    for (const entry of page) if ((await visit(entry)) === false) return
    if (page.length < PAGE) return
    seq = page[page.length - 1].seq
  }
}

/** The document as it was at `at` (now when omitted); refuses a time before the history window. */
export async function stateAt(store: HistoryStore, name: string, at?: number): Promise<Y.Doc> {
  await checkedBounds(store, name, at)
  const { doc } = await replay(store, name, at === undefined ? {} : { at })
  if (at === undefined) return doc
  // History may have been dropped while replaying; then the replay may have missed entries.
  await checkedBounds(store, name, at).catch((error) => {
    doc.destroy()
    throw error
  })
  return doc
}
