// Reading a document's whole journal back for the chaos checks: which structs of a Yjs client it
// holds how often, and how many times a map key was written.
import * as Y from 'yjs'
import type { JournalEntry, JournalStore } from '../../server/store/types.ts'

export async function journalOf(store: JournalStore, doc: string): Promise<JournalEntry[]> {
  const entries: JournalEntry[] = []
  for (;;) {
    const page = await store.entriesPage(doc, entries.at(-1)?.seq ?? 0, 1000)
    entries.push(...page)
    if (page.length < 1000) return entries
  }
}

/** Clocks below `below` of `client` that the journal holds other than exactly once, as `clock×times`. */
export function notOnce(entries: readonly JournalEntry[], client: number, below: number): string[] {
  const times = new Uint16Array(below)
  for (const entry of entries) {
    for (const struct of Y.decodeUpdate(entry.update).structs) {
      if (struct.id.client !== client || struct instanceof Y.Skip) continue
      for (let clock = struct.id.clock; clock < Math.min(below, struct.id.clock + struct.length); clock++) times[clock]++
    }
  }
  const wrong: string[] = []
  for (let clock = 0; clock < below; clock++) if (times[clock] !== 1) wrong.push(`${clock}×${times[clock]}`)
  return wrong
}

/**
 * How many times each key of the root map `root` was written. An overwrite names its key only
 * through its origin (the entry it replaced), so keys are followed along origins.
 */
export function writesPerKey(entries: readonly JournalEntry[], root: string): Map<string, number> {
  const keyOf = new Map<string, string | undefined>()
  const writes = new Map<string, number>()
  for (const entry of entries) {
    for (const struct of Y.decodeUpdate(entry.update).structs) {
      // A decoded item names its parent by root name (a string) when it has no origin to follow.
      if (!(struct instanceof Y.Item)) continue
      const inherited = struct.origin ? keyOf.get(`${struct.origin.client}:${struct.origin.clock}`) : undefined
      const key = struct.parentSub !== null && (struct.parent as unknown) === root ? struct.parentSub : inherited
      for (let i = 0; i < struct.length; i++) keyOf.set(`${struct.id.client}:${struct.id.clock + i}`, key)
      if (key !== undefined) writes.set(key, (writes.get(key) ?? 0) + 1)
    }
  }
  return writes
}
