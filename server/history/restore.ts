// Restoring a past state. Yjs deletions are permanent, so re-applying old updates cannot bring a
// past state back. Instead the current document is edited, root by root, until its content equals
// the past state; the edit is an ordinary new change that every client merges. Without a server
// holding the document, the edit is made on the replayed state and journaled (writeInStore).
import * as Y from 'yjs'
import { resolve } from '../../docs-model/registry.ts'
import type { RootKind, Surface } from '../../docs-model/types.ts'
import type { HistoryStore, JournalOrigin } from '../store/types.ts'
import { replay, stateAt } from './replay.ts'

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

/** True when a decoded update carries neither structs nor deletions (frames.ts's isEmptyUpdate checks the bytes of a wire frame). */
function changesNothing(update: Uint8Array): boolean {
  const { structs, ds } = Y.decodeUpdate(update)
  return structs.length === 0 && ds.clients.size === 0
}

/**
 * Applies `change` to the stored current state of a document and journals the resulting update,
 * for tools that work on the store while no server holds the document. Returns undefined when
 * the change changed nothing.
 */
export async function writeInStore(
  store: HistoryStore,
  name: string,
  change: (doc: Y.Doc) => void,
  entry: { user: string | null; origin: JournalOrigin },
): Promise<{ seq: number; bytes: number } | undefined> {
  const { doc } = await replay(store, name)
  const before = Y.encodeStateVector(doc)
  doc.transact(() => change(doc), entry.origin)
  const update = Y.encodeStateAsUpdate(doc, before)
  doc.destroy()
  if (changesNothing(update)) return undefined
  const seq = await store.append(name, { at: Date.now(), user: entry.user, origin: entry.origin, update })
  return { seq, bytes: update.byteLength }
}

/** Restores directly in the store (no server holds the document): journals the change with origin `restore`. */
export async function restoreInStore(store: HistoryStore, name: string, at: number, user: string | null): Promise<{ seq: number; bytes: number } | undefined> {
  const { surface } = resolve(name)
  const past = await stateAt(store, name, at)
  try {
    return await writeInStore(store, name, (doc) => restoreInto(doc, past, surface), { user, origin: 'restore' })
  } finally {
    past.destroy()
  }
}
