// Checking that a stored document decodes: every snapshot and every journal entry is decoded and
// applied in order, the result must leave nothing waiting for missing updates, and the surface's
// declaration must be able to decode it. Each problem names the entry (or snapshot) at fault.
// Entries the loader quarantined (it could not read them) are left out of that replay and listed
// as problems of their own until `homeroom docs repair` drops them; repair runs this check with
// `quarantine` set first, so it also catches entries no load has met (such as ones a snapshot covers).
// It walks the journal with the replay's own walk and per-entry apply (history/replay.ts), from the
// start of kept history rather than the newest snapshot, so that every kept entry is checked.
import * as Y from 'yjs'
import { resolve } from '../../docs-model/registry.ts'
import { applyIfReadable, walk } from '../../server/history/replay.ts'
import type { HistoryStore } from '../../server/store/types.ts'
import { historyBounds, iso } from '../../server/history/time.ts'

export interface Problem {
  doc: string
  /** The journal entry at fault; absent for problems of a snapshot or of the whole document. */
  seq?: number
  snapshot?: number
  at?: string
  user?: string | null
  message: string
  /** Set for an entry the loader quarantined: why it could not be read. */
  quarantined?: { reason: string; at: string }
  /** `homeroom docs repair` removes this problem (a quarantined entry, or one the loader would quarantine). */
  repairable?: boolean
}

const reason = (error: unknown): string => (error as Error)?.message || String(error)

/** Decodes and applies one update to `doc`, throwing when it does not decode. */
function applyChecked(doc: Y.Doc, update: Uint8Array): void {
  Y.decodeUpdate(update)
  Y.applyUpdate(doc, update)
}

/** The problems of one stored document; with `quarantine`, entries that cannot be read are quarantined as they are found. */
export async function verifyDocument(store: HistoryStore, name: string, options: { quarantine?: boolean } = {}): Promise<Problem[]> {
  const problems: Problem[] = []
  let surface
  try {
    surface = resolve(name).surface
  } catch (error) {
    problems.push({ doc: name, message: `stored under a name no surface accepts: ${reason(error)}` })
  }
  for (const q of await store.listQuarantined(name)) {
    problems.push({
      doc: name,
      seq: q.seq,
      at: iso(q.at),
      user: q.user,
      message: `entry seq ${q.seq} is quarantined (${q.reason})`,
      quarantined: { reason: q.reason, at: iso(q.quarantinedAt) },
      repairable: true,
    })
  }
  for (const info of await store.listSnapshots(name)) {
    const snapshot = await store.readSnapshot(name, info.seq)
    try {
      applyChecked(new Y.Doc(), snapshot!.state)
    } catch (error) {
      problems.push({ doc: name, snapshot: info.seq, at: iso(info.at), message: `snapshot at seq ${info.seq} does not decode: ${reason(error)}` })
    }
  }
  // Replay the journal from its start (or from the snapshot that replaced older history).
  const bounds = await historyBounds(store, name)
  const doc = new Y.Doc()
  let seq = 0
  if (bounds.base) {
    const base = await store.readSnapshot(name, bounds.base.seq)
    try {
      applyChecked(doc, base!.state)
    } catch {
      // reported above
    }
    seq = bounds.base.seq
  }
  let stalledBy: Problem | undefined
  await walk(store, name, seq, async (entry) => {
    const waiting = doc.store.pendingStructs !== null
    const why = applyIfReadable(doc, entry.update)
    if (why !== undefined) {
      const problem: Problem = { doc: name, seq: entry.seq, at: iso(entry.at), user: entry.user, message: `entry seq ${entry.seq} ${why}`, repairable: true }
      if (options.quarantine && (await store.quarantine(name, entry.seq, why))) {
        problem.message = `entry seq ${entry.seq} is quarantined (${why})`
        problem.quarantined = { reason: why, at: iso(Date.now()) }
      }
      problems.push(problem)
      return
    }
    if (!waiting && doc.store.pendingStructs !== null) {
      stalledBy = { doc: name, seq: entry.seq, at: iso(entry.at), user: entry.user, message: `entry seq ${entry.seq} depends on changes that are not stored` }
    } else if (doc.store.pendingStructs === null) stalledBy = undefined
  })
  if (stalledBy) problems.push(stalledBy)
  if (surface) {
    try {
      JSON.stringify(surface.decode(doc))
    } catch (error) {
      problems.push({ doc: name, message: `the ${surface.key} declaration cannot decode the stored state: ${reason(error)}` })
    }
  }
  doc.destroy()
  return problems
}
