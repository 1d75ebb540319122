// Time travel over the journal: the state of a document at a time, its history with the paths
// each change touched, what changed between two times, and restoring a past state as a new
// change. Everything stands on replay (newest snapshot at or before a time plus the entries after it).
import * as Y from 'yjs'
import { resolve } from '../docs-model/registry.ts'
import type { RootKind, Surface } from '../docs-model/types.ts'
import { replay } from './store/replay.ts'
import type { JournalEntry, JournalOrigin, Store } from './store/types.ts'

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
export async function historyBounds(store: Store, name: string): Promise<HistoryBounds> {
  const [oldest] = await store.listSnapshots(name)
  const [first] = await store.entriesPage(name, 0, 1)
  const pruned = oldest !== undefined && (first === undefined || first.seq > oldest.seq)
  return {
    exists: oldest !== undefined || first !== undefined,
    start: pruned ? oldest.at : 0,
    base: pruned ? { seq: oldest.seq, at: oldest.at } : undefined,
  }
}

async function checkedBounds(store: Store, name: string, ...times: Array<number | undefined>): Promise<HistoryBounds> {
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

/** The document as it was at `at` (now when omitted). */
export async function stateAt(store: Store, name: string, at?: number): Promise<Y.Doc> {
  await checkedBounds(store, name, at)
  if (at === undefined) return (await replay(store, name)).doc
  const { doc } = await replayAt(store, name, at)
  // History may have been dropped while replaying; then the replay may have missed entries.
  await checkedBounds(store, name, at).catch((error) => {
    doc.destroy()
    throw error
  })
  return doc
}

// Matches the default snapshot interval: one page usually covers the entries after a snapshot.
const PAGE = 500

/** Visits a document's stored entries after `afterSeq` in order, page by page, until `visit` returns false. */
async function walk(store: Store, name: string, afterSeq: number, visit: (entry: JournalEntry) => boolean | void): Promise<void> {
  for (let seq = afterSeq; ; ) {
    const page = await store.entriesPage(name, seq, PAGE)
    for (const entry of page) if (visit(entry) === false) return
    if (page.length < PAGE) return
    seq = page[page.length - 1].seq
  }
}

/**
 * The newest snapshot at or before `at` plus the entries after it, read page by page and stopped
 * at the first entry past `at`: the cost is bounded by the snapshot interval, not by how much of
 * the journal follows `at` (a time-bounded query would scan all of it).
 */
async function replayAt(store: Store, name: string, at: number): Promise<{ doc: Y.Doc; seq: number }> {
  const snapshot = await store.latestSnapshot(name, at)
  const doc = new Y.Doc()
  if (snapshot) Y.applyUpdate(doc, snapshot.state)
  let seq = snapshot?.seq ?? 0
  const updates: Uint8Array[] = []
  await walk(store, name, seq, (entry) => {
    if (entry.at > at) return false
    updates.push(entry.update)
    seq = entry.seq
  })
  if (updates.length > 0) Y.applyUpdate(doc, Y.mergeUpdates(updates))
  return { doc, seq }
}

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
async function startingPoint(store: Store, name: string, bounds: HistoryBounds, from?: number): Promise<{ doc: Y.Doc; seq: number }> {
  const snapshot =
    (from !== undefined ? await store.latestSnapshot(name, from - 1) : undefined) ??
    (bounds.base ? await store.readSnapshot(name, bounds.base.seq) : undefined)
  const doc = new Y.Doc()
  if (snapshot) Y.applyUpdate(doc, snapshot.state)
  return { doc, seq: snapshot?.seq ?? 0 }
}

/** Each stored change between `from` and `to` (inclusive), with the paths it touched. */
export async function history(store: Store, name: string, options: { from?: number; to?: number } = {}): Promise<HistoryItem[]> {
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
export async function diff(store: Store, name: string, from: number, to: number): Promise<Change[]> {
  if (to < from) throw new TimeTravelError('bad-time', `--to (${iso(to)}) is before --from (${iso(from)})`)
  await checkedBounds(store, name, from)
  const { surface } = resolve(name)
  const { doc, seq } = await replayAt(store, name, from)
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

// Restoring. Yjs deletions are permanent, so re-applying old updates cannot bring a past state
// back. Instead the current document is edited, root by root, until its content equals the
// past state; the edit is an ordinary new change that every client merges.

type Sequence = Y.Array<unknown> | Y.XmlFragment

function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true
  if (a instanceof Y.AbstractType || b instanceof Y.AbstractType) {
    return a instanceof Y.AbstractType && b instanceof Y.AbstractType && a.constructor === b.constructor && deepEqual(a.toJSON(), b.toJSON())
  }
  if (a instanceof Uint8Array || b instanceof Uint8Array) {
    return a instanceof Uint8Array && b instanceof Uint8Array && a.length === b.length && a.every((v, i) => v === b[i])
  }
  if (Array.isArray(a) || Array.isArray(b)) {
    return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((v, i) => deepEqual(v, b[i]))
  }
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object') return false
  const ka = Object.keys(a)
  const kb = Object.keys(b)
  return ka.length === kb.length && ka.every((k) => Object.hasOwn(b, k) && deepEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]))
}

/** A value from the past document, ready to insert into the current one (types are copied). */
const copy = (value: unknown): unknown => (value instanceof Y.AbstractType ? value.clone() : value)

function restoreMap(current: Y.Map<unknown>, target: Y.Map<unknown>): void {
  for (const key of [...current.keys()]) if (!target.has(key)) current.delete(key)
  for (const [key, value] of target.entries()) {
    const now = current.get(key)
    if (current.has(key) && deepEqual(now, value)) continue
    if (now instanceof Y.Map && value instanceof Y.Map) restoreMap(now, value)
    else if (now instanceof Y.Array && value instanceof Y.Array) restoreSequence(now, value)
    else current.set(key, copy(value))
  }
}

/** Keeps the common head and tail, replaces the middle: untouched elements keep their identity. */
function restoreSequence(current: Sequence, target: Sequence): void {
  const a: unknown[] = current.toArray()
  const b: unknown[] = target.toArray()
  let head = 0
  while (head < a.length && head < b.length && deepEqual(a[head], b[head])) head++
  let tail = 0
  while (tail < a.length - head && tail < b.length - head && deepEqual(a[a.length - 1 - tail], b[b.length - 1 - tail])) tail++
  const removed = a.length - head - tail
  if (removed > 0) current.delete(head, removed)
  const inserted = b.slice(head, b.length - tail).map(copy)
  if (inserted.length > 0) (current as Y.Array<unknown>).insert(head, inserted)
}

function restoreText(current: Y.Text, target: Y.Text): void {
  const delta = target.toDelta()
  if (deepEqual(current.toDelta(), delta)) return
  current.delete(0, current.length)
  current.applyDelta(delta)
}

/** The kind of a root: from the surface's layout, else guessed from what the document holds. */
function kindOf(surface: Surface, docs: Y.Doc[], name: string): RootKind | undefined {
  const declared = surface.layout[name]?.kind
  if (declared) return declared
  for (const doc of docs) {
    const type = doc.share.get(name)
    if (type instanceof Y.Map) return 'map'
    if (type instanceof Y.Array) return 'array'
    if (type instanceof Y.XmlFragment) return 'xml'
    if (type instanceof Y.Text) return 'text'
    if (type && type._map.size > 0) return 'map'
    if (type && type._start) return 'array'
  }
  return undefined
}

function rootOf(doc: Y.Doc, name: string, kind: RootKind): Y.AbstractType<any> | undefined {
  try {
    if (kind === 'map') return doc.getMap(name)
    if (kind === 'array') return doc.getArray(name)
    if (kind === 'xml') return doc.getXmlFragment(name)
    return doc.getText(name)
  } catch {
    return undefined // declared with another kind in this document
  }
}

/** Edits `doc` (in one transaction) until every root's content equals `target`'s. */
export function restoreInto(doc: Y.Doc, target: Y.Doc, surface: Surface, origin: unknown = 'restore'): void {
  const names = new Set([...Object.keys(surface.layout), ...doc.share.keys(), ...target.share.keys()])
  doc.transact(() => {
    for (const name of names) {
      const kind = kindOf(surface, [target, doc], name)
      if (!kind) continue
      const current = rootOf(doc, name, kind)
      const past = rootOf(target, name, kind)
      if (!current || !past) continue
      if (kind === 'map') restoreMap(current as Y.Map<unknown>, past as Y.Map<unknown>)
      else if (kind === 'text') restoreText(current as Y.Text, past as Y.Text)
      else restoreSequence(current as Sequence, past as Sequence)
    }
  }, origin)
}

/** True when an update carries neither new structs nor deletions. */
export function isEmptyUpdate(update: Uint8Array): boolean {
  const { structs, ds } = Y.decodeUpdate(update)
  return structs.length === 0 && ds.clients.size === 0
}

/**
 * Applies `change` to the stored current state of a document and journals the resulting update,
 * for tools that work on the store while no server holds the document. Returns undefined when
 * the change changed nothing.
 */
export async function writeInStore(
  store: Store,
  name: string,
  change: (doc: Y.Doc) => void,
  entry: { user: string | null; origin: JournalOrigin },
): Promise<{ seq: number; bytes: number } | undefined> {
  const { doc } = await replay(store, name)
  const before = Y.encodeStateVector(doc)
  doc.transact(() => change(doc), entry.origin)
  const update = Y.encodeStateAsUpdate(doc, before)
  doc.destroy()
  if (isEmptyUpdate(update)) return undefined
  const seq = await store.append(name, { at: Date.now(), user: entry.user, origin: entry.origin, update })
  return { seq, bytes: update.byteLength }
}

/** Restores directly in the store (no server holds the document): journals the change with origin `restore`. */
export async function restoreInStore(store: Store, name: string, at: number, user: string | null): Promise<{ seq: number; bytes: number } | undefined> {
  const { surface } = resolve(name)
  const past = await stateAt(store, name, at)
  try {
    return await writeInStore(store, name, (doc) => restoreInto(doc, past, surface), { user, origin: 'restore' })
  } finally {
    past.destroy()
  }
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
  store: Store,
  name: string,
  until = Number.POSITIVE_INFINITY,
  options: { concurrent?: boolean } = {},
): Promise<{ seq: number; dropped: number } | undefined> {
  const newest = options.concurrent ? ((await store.latestSnapshot(name))?.seq ?? 0) : Number.POSITIVE_INFINITY
  const snapshot = Number.isFinite(until) ? await store.latestSnapshot(name, until) : await store.latestSnapshot(name)
  const doc = new Y.Doc()
  if (snapshot) Y.applyUpdate(doc, snapshot.state)
  let seq = snapshot?.seq ?? 0
  let at = snapshot?.at ?? 0
  await walk(store, name, seq, (entry) => {
    if (entry.at > until) return false
    Y.applyUpdate(doc, entry.update)
    seq = entry.seq
    at = entry.at
  })
  try {
    if (seq === 0) return undefined
    if (snapshot?.seq !== seq) await store.writeSnapshot({ doc: name, seq, at, state: Y.encodeStateAsUpdate(doc) })
    const prunePoint = Math.min(seq, newest)
    const base = (await historyBounds(store, name)).base?.seq ?? 0
    if (prunePoint === 0 || base >= prunePoint) return { seq, dropped: 0 }
    return { seq, dropped: await store.pruneBefore(name, prunePoint) }
  } finally {
    doc.destroy()
  }
}
