// What the classroom observers share: running derived writes soon after the change that asked
// for them (one at a time per document, coalescing bursts), reading a document without keeping
// it loaded, and writing a map's derived entries only where they differ.
import * as Y from 'yjs'
import type { Homeroom } from '../../server/app.ts'
import { serverWrite } from '../../server/writes.ts'
import { replay } from '../../server/history/replay.ts'
import { mapOf } from '../../docs-model/common.ts'

/** Runs one task per key after `delayMs`; requests arriving meanwhile or while it runs fold into one more run. */
export class Coalescer {
  private readonly states = new Map<string, { again: boolean; timer?: NodeJS.Timeout }>()
  private readonly delayMs: number
  private readonly onError: (error: unknown) => void
  private closed = false

  constructor(delayMs: number, onError: (error: unknown) => void) {
    this.delayMs = delayMs
    this.onError = onError
  }

  request(key: string, task: () => Promise<void>): void {
    if (this.closed) return
    const existing = this.states.get(key)
    if (existing) {
      existing.again = true
      return
    }
    const state: { again: boolean; timer?: NodeJS.Timeout } = { again: false }
    this.states.set(key, state)
    state.timer = setTimeout(async () => {
      state.timer = undefined
      do {
        state.again = false
        try {
          await task()
        } catch (error) {
          this.onError(error)
        }
      } while (state.again && !this.closed)
      this.states.delete(key)
    }, this.delayMs)
    state.timer.unref()
  }

  close(): void {
    this.closed = true
    for (const state of this.states.values()) clearTimeout(state.timer)
    this.states.clear()
  }
}

/** Counts and logs an error caught in an observer; observers never let one escape. */
export function reportError(app: Homeroom, where: string, error: unknown, doc?: string): void {
  app.metrics.observerErrors.inc({ where })
  app.log.error({ err: error, doc }, `${where} failed`)
}

/** Reads a document: the live copy when loaded, else its stored state (at `at`, if given), discarded afterwards. */
export async function readDoc<T>(app: Homeroom, name: string, read: (doc: Y.Doc) => T, at?: number): Promise<T> {
  const live = at === undefined ? app.hocuspocus.documents.get(name) : undefined
  if (live) return read(live)
  const { doc } = await replay(app.store, name, at === undefined ? {} : { at })
  try {
    return read(doc)
  } finally {
    doc.destroy()
  }
}

const same = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b)

/** The keys of `root` that must change so that it equals `desired` (with `prune`, extra keys go too). */
function differences(map: Y.Map<unknown>, desired: Record<string, unknown>, prune: boolean): { set: string[]; drop: string[] } {
  const set = Object.keys(desired).filter((key) => !map.has(key) || !same(map.get(key), desired[key]))
  const drop = prune ? [...map.keys()].filter((key) => !(key in desired)) : []
  return { set, drop }
}

/**
 * Makes the map `root` of document `name` hold `desired`, writing only the entries that differ
 * and nothing at all when none does. Returns whether anything was written.
 */
export async function syncMap(app: Homeroom, name: string, root: string, desired: Record<string, unknown>, options: { prune?: boolean } = {}): Promise<boolean> {
  const prune = options.prune ?? false
  const pending = await readDoc(app, name, (doc) => differences(mapOf(doc, root), desired, prune))
  if (pending.set.length === 0 && pending.drop.length === 0) return false
  await serverWrite(app.hocuspocus, name, (doc) => {
    const map = doc.getMap(root)
    const { set, drop } = differences(map, desired, prune)
    for (const key of set) map.set(key, desired[key])
    for (const key of drop) map.delete(key)
  })
  return true
}
