// Tracing history: which paths each stored change touched (a root, then the map keys leading to
// the value), for `homeroom docs history` and `docs diff`. Entries are applied one by one, on top
// of a kept snapshot (history) or of the replayed state at `from` (diff), each watched through its
// transaction's `changed` set, so unlike replay they cannot merge entries or set unreadable ones aside.
import * as Y from 'yjs'
import { resolve } from '../../docs-model/registry.ts'
import type { HistoryStore, JournalOrigin } from '../store/types.ts'
import { replay, walk } from './replay.ts'
import { checkedBounds, iso, TimeTravelError, type HistoryBounds } from './time.ts'

/** Path of a change: the root name, then the map keys leading to it (array positions are not named). */
function pathOf(type: Y.AbstractType<any>, key: string | null): string[] {
  const segments = key === null ? [] : [key]
  let current: Y.AbstractType<any> = type
  while (current._item) {
    const item = current._item
    if (item.parentSub !== null) segments.unshift(item.parentSub)
    if (!(item.parent instanceof Y.AbstractType)) break
    current = item.parent
  }
  // Text and XML roots are one value to an admin: a change anywhere in `body` is a change to `body`.
  if (current instanceof Y.XmlFragment || current instanceof Y.Text) return [Y.findRootTypeKey(current)]
  return [Y.findRootTypeKey(current), ...segments]
}

const PATH_SEPARATOR = '/'

/** Applies `update` to `doc` and returns the paths it changed, sorted. */
export function applyTraced(doc: Y.Doc, update: Uint8Array): string[][] {
  const paths = new Map<string, string[]>()
  const listener = (transaction: Y.Transaction) => {
    for (const [type, keys] of transaction.changed) {
      for (const key of keys) {
        const path = pathOf(type, key)
        paths.set(path.join(PATH_SEPARATOR), path)
      }
    }
  }
  doc.on('afterTransaction', listener)
  try {
    Y.applyUpdate(doc, update)
  } finally {
    doc.off('afterTransaction', listener)
  }
  return [...paths.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([, path]) => path)
}

export interface HistoryItem {
  seq: number
  at: number
  user: string | null
  origin: JournalOrigin
  bytes: number
  paths: string[]
}

/** A document to replay entries on: the snapshot before `from` (or the oldest kept one), else empty. */
async function startingPoint(store: HistoryStore, name: string, bounds: HistoryBounds, from?: number): Promise<{ doc: Y.Doc; seq: number }> {
  const snapshot =
    (from !== undefined ? await store.latestSnapshot(name, from - 1) : undefined) ??
    (bounds.base ? await store.readSnapshot(name, bounds.base.seq) : undefined)
  const doc = new Y.Doc()
  if (snapshot) Y.applyUpdate(doc, snapshot.state)
  return { doc, seq: snapshot?.seq ?? 0 }
}

/** Each stored change between `from` and `to` (inclusive), with the paths it touched. */
export async function history(store: HistoryStore, name: string, options: { from?: number; to?: number } = {}): Promise<HistoryItem[]> {
  const bounds = await checkedBounds(store, name)
  const { doc, seq } = await startingPoint(store, name, bounds, options.from)
  const items: HistoryItem[] = []
  await walk(store, name, seq, (entry) => {
    if (options.to !== undefined && entry.at > options.to) return false
    const paths = applyTraced(doc, entry.update)
    if (options.from === undefined || entry.at >= options.from) {
      items.push({ seq: entry.seq, at: entry.at, user: entry.user, origin: entry.origin, bytes: entry.update.byteLength, paths: paths.map((p) => p.join(PATH_SEPARATOR)) })
    }
  })
  doc.destroy()
  return items
}

export interface Change {
  path: string
  /** Users whose entries touched this path, in order of their first change. */
  by: Array<string | null>
  entries: number
  before: unknown
  after: unknown
}

/** The value at `path` in a decoded document, or undefined. */
function valueAt(decoded: unknown, path: string[]): unknown {
  let value = decoded
  for (const segment of path) {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined
    value = (value as Record<string, unknown>)[segment]
  }
  return value
}

/** What changed between `from` and `to`, by path, with who changed it and the decoded values before and after. */
export async function diff(store: HistoryStore, name: string, from: number, to: number): Promise<Change[]> {
  if (to < from) throw new TimeTravelError('bad-time', `--to (${iso(to)}) is before --from (${iso(from)})`)
  await checkedBounds(store, name, from)
  const { surface } = resolve(name)
  const { doc, seq } = await replay(store, name, { at: from })
  const before = surface.decode(doc)
  const touched = new Map<string, { path: string[]; by: Array<string | null>; entries: number }>()
  await walk(store, name, seq, (entry) => {
    if (entry.at > to) return false
    for (const path of applyTraced(doc, entry.update)) {
      const key = path.join(PATH_SEPARATOR)
      const change = touched.get(key) ?? { path, by: [], entries: 0 }
      change.entries++
      if (!change.by.includes(entry.user)) change.by.push(entry.user)
      touched.set(key, change)
    }
  })
  const after = surface.decode(doc)
  doc.destroy()
  return [...touched.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([path, c]) => ({ path, by: c.by, entries: c.entries, before: valueAt(before, c.path), after: valueAt(after, c.path) }))
}
