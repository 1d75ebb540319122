// Checking that a stored document decodes: every snapshot and every journal entry is decoded and
// applied in order, the result must leave nothing waiting for missing updates, and the surface's
// declaration must be able to decode it. Each problem names the entry (or snapshot) at fault.
// Entries the loader quarantined (it could not read them) are left out of that replay and listed
// as problems of their own until `homeroom docs repair` drops them.
import * as Y from 'yjs'
import { resolve } from '../../docs-model/registry.ts'
import type { Store } from '../../server/store/types.ts'
import { historyBounds, iso } from '../../server/timetravel.ts'

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
}

const PAGE = 2000
const reason = (error: unknown): string => (error as Error)?.message || String(error)

/** Decodes and applies one update to `doc`, throwing when it does not decode. */
function applyChecked(doc: Y.Doc, update: Uint8Array): void {
  Y.decodeUpdate(update)
  Y.applyUpdate(doc, update)
}

export async function verifyDocument(store: Store, name: string): Promise<Problem[]> {
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
  for (;;) {
    const page = await store.entriesPage(name, seq, PAGE)
    for (const entry of page) {
      const waiting = doc.store.pendingStructs !== null
      try {
        applyChecked(doc, entry.update)
      } catch (error) {
        problems.push({ doc: name, seq: entry.seq, at: iso(entry.at), user: entry.user, message: `entry seq ${entry.seq} does not decode: ${reason(error)}` })
        continue
      }
      if (!waiting && doc.store.pendingStructs !== null) {
        stalledBy = { doc: name, seq: entry.seq, at: iso(entry.at), user: entry.user, message: `entry seq ${entry.seq} depends on changes that are not stored` }
      } else if (doc.store.pendingStructs === null) stalledBy = undefined
    }
    if (page.length < PAGE) break
    seq = page[page.length - 1].seq
  }
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
