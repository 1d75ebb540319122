// The behaviour every Store must have, as one uvu suite to run against each implementation
// (SQLite and PostgreSQL run the very same assertions).
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import * as Y from 'yjs'
import { compact, replay } from '../../server/store/replay.ts'
import type { Store } from '../../server/store/types.ts'

/** Opens an empty store for one test; `close` releases it. */
export type OpenStore = () => Promise<{ store: Store; close(): Promise<void> }>

function updateSetting(doc: Y.Doc, key: string, value: unknown): Uint8Array {
  let update!: Uint8Array
  const listen = (u: Uint8Array) => (update = u)
  doc.on('update', listen)
  doc.getMap('meta').set(key, value)
  doc.off('update', listen)
  return update
}

/** Resolves when `promise` rejects with a message matching `pattern`; fails otherwise. */
export async function rejects(promise: Promise<unknown>, pattern: RegExp): Promise<void> {
  const outcome = await promise.then(
    () => undefined,
    (error: Error) => error,
  )
  assert.ok(outcome, `expected a rejection matching ${pattern}`)
  assert.match(outcome.message, pattern)
}

export function storeBehaviour(label: string, open: OpenStore) {
  const s = suite(`${label} store`)
  let store: Store
  let close: () => Promise<void>
  s.before.each(async () => {
    ;({ store, close } = await open())
  })
  s.after.each(async () => {
    await close()
  })

  s('appends in order with growing sequence numbers and replays them', async () => {
    const source = new Y.Doc()
    const seqs: number[] = []
    for (let i = 0; i < 5; i++) seqs.push(await store.append('s1/doc/a', { at: 1000 + i, user: 'u1', origin: 'client', update: updateSetting(source, `k${i}`, i) }))
    await store.append('s1/doc/b', { at: 2000, user: null, origin: 'server', update: updateSetting(new Y.Doc(), 'x', 1) })
    assert.equal([...seqs].sort((a, b) => a - b), seqs)
    assert.is(new Set(seqs).size, 5)
    const entries = await store.entriesAfter('s1/doc/a', 0)
    assert.equal(entries.map((e) => e.seq), seqs)
    assert.equal(entries[0].user, 'u1')
    assert.equal(entries[0].origin, 'client')
    assert.instance(entries[0].update, Uint8Array)
    assert.equal((await store.entriesAfter('s1/doc/a', seqs[2])).map((e) => e.seq), seqs.slice(3))
    assert.equal((await store.entriesAfter('s1/doc/a', 0, 1002)).map((e) => e.seq), seqs.slice(0, 3))
    assert.is(await store.countAfter('s1/doc/a', seqs[1]), 3)
    assert.equal((await store.entriesPage('s1/doc/a', seqs[0], 2)).map((e) => e.seq), seqs.slice(1, 3))
    const { doc, seq } = await replay(store, 's1/doc/a')
    assert.is(seq, seqs[4])
    assert.equal(doc.getMap('meta').toJSON(), { k0: 0, k1: 1, k2: 2, k3: 3, k4: 4 })
  })

  s('snapshots: latest, at a time, listed, read, and replay from snapshot plus tail', async () => {
    const source = new Y.Doc()
    for (let i = 0; i < 3; i++) await store.append('s1/doc/a', { at: 1000 + i, user: 'u1', origin: 'client', update: updateSetting(source, `k${i}`, i) })
    const bytes = await compact(store, 's1/doc/a')
    assert.ok(bytes && bytes > 0)
    const first = await store.latestSnapshot('s1/doc/a')
    assert.ok(first)
    assert.is(first.at, 1002)
    await store.append('s1/doc/a', { at: 5000, user: 'u1', origin: 'client', update: updateSetting(source, 'late', true) })
    assert.is(await compact(store, 's1/doc/a', 5), undefined, 'no snapshot below the threshold')
    assert.is((await store.latestSnapshot('s1/doc/a', 999)), undefined)
    assert.is((await store.latestSnapshot('s1/doc/a', 1500))?.seq, first.seq)
    const listed = await store.listSnapshots('s1/doc/a')
    assert.equal(listed, [{ doc: 's1/doc/a', seq: first.seq, at: 1002, bytes: first.state.byteLength }])
    assert.equal((await store.readSnapshot('s1/doc/a', first.seq))?.state, first.state)
    const now = await replay(store, 's1/doc/a')
    assert.is(now.tail.length, 1)
    assert.equal(now.doc.getMap('meta').toJSON(), { k0: 0, k1: 1, k2: 2, late: true })
    const past = await replay(store, 's1/doc/a', { at: 1001 })
    assert.equal(past.doc.getMap('meta').toJSON(), { k0: 0, k1: 1 })
    // Writing the same snapshot twice (two instances compacting together) is harmless.
    await store.writeSnapshot(first)
    assert.is((await store.listSnapshots('s1/doc/a')).length, 1)
  })

  s('pruning drops history before a snapshot and keeps the document whole', async () => {
    const source = new Y.Doc()
    for (let i = 0; i < 4; i++) await store.append('s1/doc/a', { at: 1000 + i, user: 'u1', origin: 'client', update: updateSetting(source, `k${i}`, i) })
    await compact(store, 's1/doc/a')
    const snapshot = await store.latestSnapshot('s1/doc/a')
    await store.append('s1/doc/a', { at: 2000, user: 'u1', origin: 'client', update: updateSetting(source, 'after', 1) })
    await rejects(store.pruneBefore('s1/doc/a', 1), /no snapshot/)
    assert.is(await store.pruneBefore('s1/doc/a', snapshot!.seq), 4)
    assert.is((await store.entriesAfter('s1/doc/a', 0)).length, 1)
    const [info] = await store.listDocuments()
    assert.is(info.updates, 1)
    assert.equal((await replay(store, 's1/doc/a')).doc.getMap('meta').toJSON(), { k0: 0, k1: 1, k2: 2, k3: 3, after: 1 })
  })

  s('lists documents with counts, sizes and filters', async () => {
    const a = updateSetting(new Y.Doc(), 'x', 1)
    const b = updateSetting(new Y.Doc(), 'y', 2)
    await store.append('s1/doc/a', { at: 10, user: 'u1', origin: 'client', update: a })
    await store.append('s1/doc/a', { at: 20, user: 'u1', origin: 'client', update: b })
    await store.append('s2/chat/c', { at: 30, user: 'u2', origin: 'client', update: a })
    const all = await store.listDocuments()
    assert.equal(all, [
      { name: 's1/doc/a', school: 's1', surface: 'doc', updates: 2, bytes: a.byteLength + b.byteLength, updatedAt: 20 },
      { name: 's2/chat/c', school: 's2', surface: 'chat', updates: 1, bytes: a.byteLength, updatedAt: 30 },
    ])
    assert.equal((await store.listDocuments({ school: 's2' })).map((d) => d.name), ['s2/chat/c'])
    assert.equal((await store.listDocuments({ surface: 'doc' })).map((d) => d.name), ['s1/doc/a'])
    assert.equal(await store.listDocuments({ school: 's3' }), [])
  })

  s('roster replaces a school at a time', async () => {
    await store.putRoster('s1', [
      { id: 'u2', name: 'Bo', role: 'student', classes: ['7a'] },
      { id: 't1', name: 'Ann', role: 'teacher', classes: ['7a', '7b'], buses: [] },
    ])
    await store.putRoster('s2', [{ id: 'p1', name: 'Cy', role: 'parent', children: ['u2'] }])
    assert.equal(await store.roster('s1'), [
      { id: 't1', name: 'Ann', role: 'teacher', classes: ['7a', '7b'], buses: [] },
      { id: 'u2', name: 'Bo', role: 'student', classes: ['7a'] },
    ])
    await store.putRoster('s1', [{ id: 'u9', name: 'Di', role: 'student' }])
    assert.equal(await store.roster('s1'), [{ id: 'u9', name: 'Di', role: 'student' }])
    await store.putRoster('s1', [])
    assert.equal(await store.roster('s1'), [])
    assert.is((await store.roster('s2')).length, 1)
  })

  s('claims succeed once per key, also when raced', async () => {
    assert.is(await store.claim('exam:e1:close'), true)
    assert.is(await store.claim('exam:e1:close'), false)
    const raced = await Promise.all(Array.from({ length: 20 }, () => store.claim('emergency:x:escalate:1')))
    assert.is(raced.filter(Boolean).length, 1)
  })

  s('files round-trip their bytes and fields', async () => {
    const bytes = new Uint8Array([0, 1, 2, 255, 254])
    await store.putFile({ id: 'f1', school: 's1', name: 'a.pdf', type: 'application/pdf', size: 5, at: 123, by: 'u1', bytes })
    assert.equal(await store.getFile('f1'), { id: 'f1', school: 's1', name: 'a.pdf', type: 'application/pdf', size: 5, at: 123, by: 'u1', bytes })
    assert.is(await store.getFile('nope'), undefined)
  })

  s('trails keep points in time order and forget old ones', async () => {
    for (const at of [300, 100, 200]) await store.appendTrail('s1/b1', { lat: at / 4, lng: 11.5, speed: 30.5, heading: 90, at })
    await store.appendTrail('s1/b2', { lat: 1, lng: 2, speed: 3, heading: 4, at: 150 })
    assert.equal((await store.trail('s1/b1', 0)).map((p) => p.at), [100, 200, 300])
    assert.equal((await store.trail('s1/b1', 200))[0], { lat: 50, lng: 11.5, speed: 30.5, heading: 90, at: 200 })
    assert.is(await store.deleteTrailBefore(200), 2)
    assert.equal((await store.trail('s1/b1', 0)).map((p) => p.at), [200, 300])
    assert.equal(await store.trail('s1/b2', 0), [])
  })

  return s
}
