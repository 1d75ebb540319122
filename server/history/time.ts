// Times in history: how an admin names one (`-15m`, an ISO time) and how far back a document's
// history reaches (compaction and retention drop what lies before the oldest snapshot). Every
// history tool refuses a time it cannot rebuild with the same error, so HTTP and the CLI can map it.
import type { JournalStore } from '../store/types.ts'

export type TimeTravelCode = 'not-found' | 'before-retention' | 'bad-time'

export class TimeTravelError extends Error {
  readonly code: TimeTravelCode
  constructor(code: TimeTravelCode, message: string) {
    super(message)
    this.code = code
  }
}

export const iso = (ms: number): string => new Date(ms).toISOString()

const UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }

/** An ISO time (`2026-05-01T08:00:00Z`), `now`, or a time relative to now (`-15m`, `-2h`, `-1d`, `-30s`). */
export function parseTime(input: string, now = Date.now()): number {
  const text = input.trim()
  if (text === 'now') return now
  const relative = /^-(\d{1,9})([smhd])$/.exec(text)
  if (relative) return now - Number(relative[1]) * UNITS[relative[2]]
  const ms = /^\d{4}-\d{2}-\d{2}/.test(text) ? Date.parse(text) : Number.NaN
  if (!Number.isFinite(ms)) {
    throw new TimeTravelError('bad-time', `'${input.slice(0, 40)}' is not a time: use an ISO time such as 2026-05-01T08:00:00Z, or -15m, -2h, -1d`)
  }
  return ms
}

export interface HistoryBounds {
  /** Anything stored at all (journal entries or snapshots). */
  exists: boolean
  /** The earliest time whose state can be rebuilt: 0 while the journal is complete. */
  start: number
  /** The oldest snapshot, when history before it was dropped (compaction or retention). */
  base?: { seq: number; at: number }
}

/** How far back a document's history reaches. History was dropped when the oldest snapshot predates every entry. */
export async function historyBounds(store: JournalStore, name: string): Promise<HistoryBounds> {
  const [oldest] = await store.listSnapshots(name)
  const [first] = await store.entriesPage(name, 0, 1)
  const pruned = oldest !== undefined && (first === undefined || first.seq > oldest.seq)
  return {
    exists: oldest !== undefined || first !== undefined,
    start: pruned ? oldest.at : 0,
    base: pruned ? { seq: oldest.seq, at: oldest.at } : undefined,
  }
}

/** The bounds, after refusing a document without history and any of `times` before its start. */
export async function checkedBounds(store: JournalStore, name: string, ...times: Array<number | undefined>): Promise<HistoryBounds> {
  const bounds = await historyBounds(store, name)
  if (!bounds.exists) throw new TimeTravelError('not-found', `no stored history for ${name}: check the name with 'homeroom docs list'`)
  for (const at of times) {
    if (at !== undefined && at < bounds.start) {
      throw new TimeTravelError(
        'before-retention',
        `history of ${name} starts at ${iso(bounds.start)} (older history was compacted or removed by retention); ${iso(at)} is before that`,
      )
    }
  }
  return bounds
}
