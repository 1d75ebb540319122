// History at one-second resolution: entries older than a minute are merged per user, origin and
// second (Y.mergeUpdates; each run of one user's consecutive entries in a second), and snapshots are kept sparse (the first of each hour plus the
// latest). A second is ((k-1)·1000, k·1000] in milliseconds: the merged entry takes the time of
// its last entry, so the state at a whole second (k·1000, what `docs show --at 08:00:05Z` asks
// for) holds exactly the entries it held before merging, and so do history, diff and restore
// between whole seconds. Within a second, a user's edits become one change.
//
// Merged entries take their group's last sequence number: entries are appended in time order, so
// each second's entries keep their place among the other seconds' (the state at a time is a
// prefix of the journal, replay.ts). No group spans a snapshot, so a snapshot still holds exactly
// the entries up to its sequence number, and the oldest one still marks where history starts
// (time.ts). A group that cannot be read (mergeAll throws) is left as it is, for the loader to
// quarantine.
import type { HistoryStore, JournalEntry, EntryMerge, SnapshotInfo } from '../store/types.ts'
import { mergeAll } from './merge.ts'
import { walk } from './replay.ts'

/** Entries older than this are merged per user and second. */
export const MERGE_AFTER_MS = 60_000
/** Entries considered in one pass (a long unmerged journal is merged over several passes). */
const PASS_ENTRIES = 50_000
const HOUR_MS = 3_600_000

/** The second an entry belongs to: entries at ((k-1)·1000, k·1000] share k. */
export const secondOf = (at: number): number => Math.ceil(at / 1000)

export interface Consolidated {
  /** Entries before merging, among those considered, and merged entries written for them. */
  entries: number
  merged: number
  removed: number
}

/** Merges the entries of `name` older than a minute (as of `now`) not merged yet. */
export async function consolidate(store: HistoryStore, name: string, now = Date.now()): Promise<Consolidated> {
  // Only whole seconds entirely older than a minute: a later entry can no longer join them.
  const cutoff = Math.floor((now - MERGE_AFTER_MS) / 1000) * 1000
  const through = await store.mergedThrough(name)
  const snapshots = (await store.listSnapshots(name)).map((s) => s.seq)
  /** How many snapshots precede the entry: entries between the same two snapshots may merge. */
  const span = (seq: number): number => {
    let [lo, hi] = [0, snapshots.length]
    while (lo < hi) {
      const mid = (lo + hi) >> 1
      if (snapshots[mid] < seq) lo = mid + 1
      else hi = mid
    }
    return lo
  }
  const old: JournalEntry[] = []
  await walk(store, name, through, (entry) => {
    if (entry.at > cutoff || old.length >= PASS_ENTRIES) return false
    old.push(entry)
  })
  if (old.length === 0) return { entries: 0, merged: 0, removed: 0 }
  // Runs of consecutive entries: an entry of another user in between ends a run, so no entry
  // moves past another it may depend on (history and diff still see each change in its place).
  const groups: JournalEntry[][] = []
  let previous = ''
  for (const entry of old) {
    const key = `${span(entry.seq)} ${secondOf(entry.at)} ${entry.origin} ${entry.user === null ? '-' : `u:${entry.user}`}`
    if (key === previous) groups[groups.length - 1].push(entry)
    else groups.push([entry])
    previous = key
  }
  const merges: EntryMerge[] = []
  for (const group of groups) {
    if (group.length < 2) continue
    let update: Uint8Array
    try {
      update = mergeAll(group.map((e) => e.update))
    } catch {
      continue // an entry that cannot be read: left for the loader to quarantine
    }
    const last = group[group.length - 1]
    merges.push({ seqs: group.map((e) => e.seq), entry: { at: last.at, user: last.user, origin: last.origin, update } })
  }
  await store.mergeEntries(name, merges, old[old.length - 1].seq)
  return { entries: old.length, merged: merges.length, removed: merges.reduce((sum, m) => sum + m.seqs.length - 1, 0) }
}

/** The snapshots to delete so that the first of each hour and the latest remain. */
export function sparseSnapshots(snapshots: readonly SnapshotInfo[]): number[] {
  const seen = new Set<number>()
  const drop: number[] = []
  snapshots.forEach((snapshot, i) => {
    const hour = Math.floor(snapshot.at / HOUR_MS)
    if (!seen.has(hour)) seen.add(hour)
    else if (i < snapshots.length - 1) drop.push(snapshot.seq)
  })
  return drop
}

/** Deletes the snapshots that keeping one per hour plus the latest leaves out. Returns how many. */
export async function thinSnapshots(store: HistoryStore, name: string): Promise<number> {
  const drop = sparseSnapshots(await store.listSnapshots(name))
  if (drop.length > 0) await store.deleteSnapshots(name, drop)
  return drop.length
}
