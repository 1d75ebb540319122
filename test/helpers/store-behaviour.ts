// The behaviour every Store must have, as one uvu suite to run against each implementation
// (SQLite and PostgreSQL run the very same assertions).
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import * as Y from 'yjs'
import * as encoding from 'lib0/encoding'
import { compact, truncateHistory } from '../../server/history/prune.ts'
import { replay, stateAt, type SkippedEntry } from '../../server/history/replay.ts'
import type { Store } from '../../server/store/types.ts'
import { consolidate, secondOf, sparseSnapshots, MERGE_AFTER_MS } from '../../server/history/consolidate.ts'
import { diff, history } from '../../server/history/trace.ts'
import { Rng } from './random.ts'

/**
 * Opens an empty store for one test; `sibling` opens another store on the same storage, as a
 * second instance would (the suite closes it); `close` releases both.
 */
export type OpenStore = () => Promise<{ store: Store; sibling(): Store; close(): Promise<void> }>

/**
 * A well-formed Yjs update setting `meta/<key>` to an array nested `depth` deep. Encoding it with
 * Yjs would overflow the stack the same way reading it does, so it is written byte by byte.
 */
export function deeplyNestedUpdate(depth: number, client = 4_242_424, key = 'deep'): Uint8Array {
  const e = encoding.createEncoder()
  encoding.writeVarUint(e, 1) // one client
  encoding.writeVarUint(e, 1) // with one struct
  encoding.writeVarUint(e, client)
  encoding.writeVarUint(e, 0) // starting at clock 0
  encoding.writeUint8(e, 8 | 0b0010_0000) // an Item holding ContentAny, with a parent key
  encoding.writeVarUint(e, 1) // its parent is a root type, named:
  encoding.writeVarString(e, 'meta')
  encoding.writeVarString(e, key)
  encoding.writeVarUint(e, 1) // one value:
  for (let i = 0; i < depth; i++) {
    encoding.writeUint8(e, 117) // an array
    encoding.writeVarUint(e, 1) // of one element
  }
  encoding.writeUint8(e, 119) // a string
  encoding.writeVarString(e, 'bottom')
  encoding.writeVarUint(e, 0) // empty delete set
  return encoding.toUint8Array(e)
}

/** Bytes that are not a Yjs update. */
export const garbageUpdate = (): Uint8Array => new TextEncoder().encode('not a yjs update at all')

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
  let sibling: () => Store
  let close: () => Promise<void>
  s.before.each(async () => {
    ;({ store, sibling, close } = await open())
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

  s('records of one turn (a group commit) land in order after earlier appends, readable at once', async () => {
    const a = new Y.Doc()
    const b = new Y.Doc()
    const first = await store.append('s1/doc/a', { at: 1000, user: 'u1', origin: 'client', update: updateSetting(a, 'k', 0) })
    const updates = Array.from({ length: 10 }, (_, i) => ({ doc: i % 2 ? 's1/doc/a' : 's1/doc/b', update: updateSetting(i % 2 ? a : b, `r${i}`, i), at: 2000 + i }))
    await Promise.all(updates.map(({ doc, update, at }) => store.record(doc, { at, user: 'u2', origin: 'client', update })))
    const inA = await store.entriesAfter('s1/doc/a', 0)
    assert.equal(inA.map((e) => e.at), [1000, 2001, 2003, 2005, 2007, 2009])
    assert.ok(inA.every((e, i) => i === 0 || e.seq > inA[i - 1].seq) && inA[1].seq > first)
    assert.equal((await store.entriesAfter('s1/doc/b', 0)).map((e) => e.at), [2000, 2002, 2004, 2006, 2008])
    assert.equal((await replay(store, 's1/doc/a')).doc.getMap('meta').toJSON(), a.getMap('meta').toJSON())
    assert.equal((await replay(store, 's1/doc/b')).doc.getMap('meta').toJSON(), b.getMap('meta').toJSON())
    const listed = await store.listDocuments()
    assert.equal(listed.map((d) => [d.name, d.updates]), [['s1/doc/a', 6], ['s1/doc/b', 5]])
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

  s('a claim with a lease: its owner renews and finishes it; an expired, unfinished claim is taken over with its work and progress', async () => {
    const work = { users: ['u1', 'u2', 'u3'], id: 'emergency:e1' }
    const t = 1_000_000
    assert.equal(await store.takeClaim('fan:e1', 'a', 1000, t, work), { progress: 0, work })
    assert.is(await store.takeClaim('fan:e1', 'b', 1000, t + 10, work), undefined, 'held by a')
    assert.equal(await store.takeClaim('fan:e1', 'a', 1000, t + 10), { progress: 0, work }, 'a retrying after a lost answer still holds it')
    assert.is(await store.renewClaim('fan:e1', 'a', 1000, t + 500, 2), true)
    assert.is(await store.takeClaim('fan:e1', 'b', 1000, t + 1400), undefined, 'the renewed lease still runs')
    assert.equal(await store.abandonedClaims(t + 1400, 10), [])
    assert.equal(await store.abandonedClaims(t + 1600, 10), ['fan:e1'], 'a stopped renewing (crashed)')
    assert.equal(await store.takeClaim('fan:e1', 'b', 1000, t + 1600), { progress: 2, work }, 'b resumes where a stopped')
    assert.is(await store.renewClaim('fan:e1', 'a', 1000, t + 1700, 3), false, 'a lost it')
    assert.is(await store.finishClaim('fan:e1', 'a', t + 1700), false)
    assert.is(await store.finishClaim('fan:e1', 'b', t + 1800), true)
    assert.is(await store.finishClaim('fan:e1', 'b', t + 1800), true, 'finishing again (a lost answer) is harmless')
    assert.is(await store.takeClaim('fan:e1', 'c', 1000, t + 999_999), undefined, 'a done claim is never taken again')
    assert.is(await store.renewClaim('fan:e1', 'b', 1000, t + 1900, 3), false)
    assert.equal(await store.abandonedClaims(t + 999_999, 10), [])
    assert.is(await store.claim('fan:e1'), false, 'the key is claimed for take-once callers too')
  })

  s('an abandoned claim raced by several instances goes to exactly one', async () => {
    const other = sibling()
    await store.takeClaim('fan:race', 'dead', 100, 0, { n: 1 })
    const takers = Array.from({ length: 12 }, (_, i) => (i % 2 ? other : store).takeClaim('fan:race', `owner-${i}`, 1000, 500))
    const won = (await Promise.all(takers)).filter((t) => t !== undefined)
    assert.is(won.length, 1)
    assert.equal(won[0], { progress: 0, work: { n: 1 } })
  })

  s('done claims are pruned after the retention period; unfinished and recent ones stay', async () => {
    const day = 86_400_000
    assert.is(await store.claim('old-take-once'), true)
    await store.takeClaim('done-early', 'a', 1000, 1 * day)
    await store.finishClaim('done-early', 'a', 1 * day)
    await store.takeClaim('done-late', 'a', 1000, 9 * day)
    await store.finishClaim('done-late', 'a', 9 * day)
    await store.takeClaim('unfinished', 'a', 1000, 1 * day, { n: 1 })
    assert.is(await store.takeLease('derive:s1/exam/x', 'a', 1000, 1 * day), true)
    assert.is(await store.pruneClaims(8 * day), 1, 'only the claim done on day 1')
    assert.is(await store.claim('done-early'), true, 'pruned: the key is free again')
    assert.is(await store.claim('done-late'), false, 'done on day 9: kept')
    assert.is(await store.claim('old-take-once'), false, 'taken now: kept')
    assert.equal(await store.abandonedClaims(10 * day, 10), ['unfinished'], 'unfinished work is never pruned')
    assert.is(await store.takeLease('derive:s1/exam/x', 'b', 1000, 8 * day), true, 'the run-out lease went with the prune')
  })

  s('leases: one owner at a time, renewable, released at once or run out', async () => {
    const other = sibling()
    assert.is(await store.takeLease('derive:d', 'a', 1000, 0), true)
    assert.is(await other.takeLease('derive:d', 'b', 1000, 500), false)
    assert.is(await store.takeLease('derive:d', 'a', 1000, 900), true, 'renewed until 1900')
    assert.is(await other.takeLease('derive:d', 'b', 1000, 1500), false)
    assert.is(await other.takeLease('derive:d', 'b', 1000, 2000), true, 'a ran out: b takes over')
    await store.releaseLease('derive:d', 'a')
    assert.is(await store.takeLease('derive:d', 'a', 1000, 2100), false, 'releasing a lease one does not hold does nothing')
    await other.releaseLease('derive:d', 'b')
    assert.is(await store.takeLease('derive:d', 'a', 1000, 2100), true, 'released: free at once')
    const raced = await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 ? other : store).takeLease('derive:e', `o${i}`, 1000, 0)))
    assert.is(raced.filter(Boolean).length, 1)
  })

  s('files round-trip their bytes and fields', async () => {
    const bytes = new Uint8Array([0, 1, 2, 255, 254])
    await store.putFile({ id: 'f1', school: 's1', name: 'a.pdf', type: 'application/pdf', size: 5, at: 123, by: 'u1', bytes })
    assert.equal(await store.getFile('f1'), { id: 'f1', school: 's1', name: 'a.pdf', type: 'application/pdf', size: 5, at: 123, by: 'u1', bytes })
    assert.is(await store.getFile('nope'), undefined)
  })

  s('a file stored twice under one id keeps its first copy (a retried upload is harmless)', async () => {
    const first = { id: 'f1', school: 's1', name: 'a.pdf', type: 'application/pdf', size: 1, at: 123, by: 'u1', bytes: new Uint8Array([1]) }
    await store.putFile(first)
    await store.putFile(first)
    await store.putFile({ ...first, name: 'b.pdf', at: 456, bytes: new Uint8Array([2]) })
    assert.equal(await store.getFile('f1'), first)
  })

  s('a bus has one trail point per instant: a second point at the same time is ignored', async () => {
    const point = { lat: 48.1, lng: 11.5, speed: 30.5, heading: 90, at: 100 }
    await store.appendTrail('s1/b1', point)
    await store.appendTrail('s1/b1', point)
    await store.appendTrail('s1/b1', { ...point, lat: 48.2 })
    await store.appendTrail('s1/b2', point)
    assert.equal(await store.trail('s1/b1', 0), [point])
    assert.equal(await store.trail('s1/b2', 0), [point], 'other buses keep their own point at that time')
    assert.is(await store.deleteTrailBefore(101), 2)
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

  s('client ids: owners are recorded once, the first writer wins, and survive pruning', async () => {
    assert.equal(await store.clientOwners('s1/doc/a', [1, 2]), new Map())
    assert.equal(await store.claimClients('s1/doc/a', [], 'u1'), new Map())
    const big = Number.MAX_SAFE_INTEGER
    assert.equal(await store.claimClients('s1/doc/a', [1, big], 'u1'), new Map([[1, 'u1'], [big, 'u1']]))
    assert.equal(await store.claimClients('s1/doc/a', [1, 2], 'u2'), new Map([[1, 'u1'], [2, 'u2']]), 'id 1 stays with u1, id 2 is new')
    assert.equal(await store.claimClients('s1/doc/a', [2, 2], 'u2'), new Map([[2, 'u2']]), 'claiming again is harmless')
    assert.equal(await store.clientOwners('s1/doc/a', [1, 2, 3, big]), new Map([[1, 'u1'], [2, 'u2'], [big, 'u1']]))
    assert.equal(await store.clientOwners('s1/doc/b', [1, 2]), new Map(), 'owners are per document')
    assert.equal(await store.claimClients('s1/doc/b', [1], 'server'), new Map([[1, 'server']]))
    // Ownership outlives the history it was written in.
    const source = new Y.Doc()
    for (let i = 0; i < 3; i++) await store.append('s1/doc/a', { at: 1000 + i, user: 'u1', origin: 'client', update: updateSetting(source, `k${i}`, i) })
    await compact(store, 's1/doc/a')
    await store.pruneBefore('s1/doc/a', (await store.latestSnapshot('s1/doc/a'))!.seq)
    assert.equal(await store.clientOwners('s1/doc/a', [1, 2, big]), new Map([[1, 'u1'], [2, 'u2'], [big, 'u1']]))
  })

  s('client ids claimed together by two instances for different users: one wins, every caller sees it', async () => {
    const other = sibling()
    const ids = [7, 8, 9, 2 ** 32 + 5]
    const claims = Array.from({ length: 20 }, (_, i) => (i % 2 ? other : store).claimClients('s1/doc/race', i % 3 ? ids : [...ids].reverse(), `u${i}`))
    const results = await Promise.all(claims)
    const stored = await other.clientOwners('s1/doc/race', ids)
    assert.is(stored.size, ids.length)
    for (const result of results) assert.equal(result, stored, 'every caller is told the stored owner of every id')
    assert.ok([...stored.values()].every((owner) => /^u\d+$/.test(owner)))
  })

  s('quarantined entries stay in the journal, flagged, and every read leaves them out', async () => {
    const source = new Y.Doc()
    const good = await store.append('s1/doc/a', { at: 1000, user: 'u1', origin: 'client', update: updateSetting(source, 'k0', 0) })
    const bad = await store.append('s1/doc/a', { at: 1001, user: 'u9', origin: 'client', update: garbageUpdate() })
    const later = await store.append('s1/doc/a', { at: 1002, user: 'u1', origin: 'client', update: updateSetting(source, 'k1', 1) })
    assert.is(await store.quarantine('s1/doc/a', bad, 'does not decode'), true)
    assert.is(await store.quarantine('s1/doc/a', bad, 'again'), false, 'already flagged')
    assert.is(await store.quarantine('s1/doc/a', 999_999, 'no such entry'), false)
    assert.equal((await store.entriesAfter('s1/doc/a', 0)).map((e) => e.seq), [good, later])
    assert.equal((await store.entriesAfter('s1/doc/a', 0, 1001)).map((e) => e.seq), [good])
    assert.equal((await store.entriesPage('s1/doc/a', 0, 10)).map((e) => e.seq), [good, later])
    assert.is(await store.countAfter('s1/doc/a', 0), 2)
    const [listed] = await store.listQuarantined('s1/doc/a')
    assert.ok(listed.quarantinedAt > 0)
    assert.equal({ ...listed, quarantinedAt: 0 }, { doc: 's1/doc/a', seq: bad, at: 1001, user: 'u9', origin: 'client', bytes: garbageUpdate().byteLength, reason: 'does not decode', quarantinedAt: 0 })
    assert.equal((await store.listQuarantined()).map((q) => q.seq), [bad])
    assert.equal(await store.listQuarantined('s1/doc/other'), [])
    // Pruning history past it keeps it, so only a repair removes it.
    await compact(store, 's1/doc/a')
    assert.is(await store.pruneBefore('s1/doc/a', later), 2)
    assert.equal((await store.listQuarantined('s1/doc/a')).map((q) => q.seq), [bad])
    assert.is((await store.listDocuments())[0].updates, 1)
    const record = { at: 2000, user: 'cli', origin: 'restore' as const, update: Y.encodeStateAsUpdate(new Y.Doc()) }
    const repaired = await store.dropQuarantined('s1/doc/a', record)
    assert.equal(repaired.dropped, [bad])
    assert.ok(repaired.seq! > later)
    assert.equal(await store.listQuarantined(), [])
    const [info] = await store.listDocuments()
    assert.equal([info.updates, info.bytes, info.updatedAt], [1, record.update.byteLength, 2000])
    assert.equal((await store.entriesAfter('s1/doc/a', 0)).map((e) => [e.seq, e.user, e.origin]), [[repaired.seq, 'cli', 'restore']])
    assert.equal(await store.dropQuarantined('s1/doc/a', record), { dropped: [] }, 'nothing to drop: nothing journaled')
    // A second repair with the same (empty) note is journaled as well.
    const again = await store.append('s1/doc/a', { at: 3000, user: 'u9', origin: 'client', update: garbageUpdate() })
    await store.quarantine('s1/doc/a', again, 'does not decode')
    assert.ok((await store.dropQuarantined('s1/doc/a', { ...record, at: 3001 })).seq! > again)
    assert.is((await store.entriesAfter('s1/doc/a', 0)).length, 2)
  })

  s('replay sets unreadable entries aside, quarantined, and opens the document with the rest', async () => {
    const source = new Y.Doc()
    await store.append('s1/doc/a', { at: 1000, user: 'u1', origin: 'client', update: updateSetting(source, 'title', 'Essay') })
    await compact(store, 's1/doc/a')
    const deep = await store.append('s1/doc/a', { at: 1001, user: 'u9', origin: 'client', update: deeplyNestedUpdate(100_000) })
    const garbage = await store.append('s1/doc/a', { at: 1002, user: 'u9', origin: 'client', update: garbageUpdate() })
    await store.append('s1/doc/a', { at: 1003, user: 'u1', origin: 'client', update: updateSetting(source, 'author', 'Ann') })
    const told: SkippedEntry[] = []
    const first = await replay(store, 's1/doc/a', { onSkipped: (s) => told.push(s) })
    assert.equal(first.doc.getMap('meta').toJSON(), { title: 'Essay', author: 'Ann' })
    assert.equal(first.skipped.map((s) => [s.entry.seq, s.flagged]), [[deep, true], [garbage, true]])
    assert.equal(told.map((s) => s.entry.seq), [deep, garbage])
    assert.match(first.skipped[0].reason, /does not decode: RangeError: Maximum call stack size exceeded/)
    assert.equal((await store.listQuarantined('s1/doc/a')).map((q) => q.seq), [deep, garbage])
    // Later replays never see them again: the fast path, nothing skipped.
    const again = await replay(store, 's1/doc/a', { onSkipped: (s) => told.push(s) })
    assert.equal(again.skipped, [])
    assert.is(told.length, 2)
    assert.equal(again.doc.getMap('meta').toJSON(), { title: 'Essay', author: 'Ann' })
    // A shallow nesting is an ordinary value.
    await store.append('s1/doc/a', { at: 1004, user: 'u1', origin: 'client', update: deeplyNestedUpdate(3, 77) })
    assert.equal((await replay(store, 's1/doc/a')).doc.getMap('meta').get('deep'), [[['bottom']]])
    // A single unreadable entry (no snapshot to merge it with) is caught too.
    await store.append('s1/doc/lone', { at: 1000, user: 'u9', origin: 'client', update: garbageUpdate() })
    assert.equal((await replay(store, 's1/doc/lone')).skipped.map((s) => s.flagged), [true])
  })

  s('compaction quarantines what it cannot read, and never snapshots past an entry it could not flag', async () => {
    const source = new Y.Doc()
    await store.append('s1/doc/a', { at: 1000, user: 'u1', origin: 'client', update: updateSetting(source, 'title', 'Essay') })
    const bad = await store.append('s1/doc/a', { at: 1001, user: 'u9', origin: 'client', update: garbageUpdate() })
    // A store that cannot write the flag (as a read-only one): the replay still skips, compaction refuses.
    const unflaggable = Object.create(store, { quarantine: { value: async () => Promise.reject(new Error('read-only')) } }) as Store
    const skipped = await replay(unflaggable, 's1/doc/a')
    assert.equal(skipped.skipped.map((s) => [s.entry.seq, s.flagged]), [[bad, false]])
    assert.equal(skipped.doc.getMap('meta').toJSON(), { title: 'Essay' })
    await rejects(compact(unflaggable, 's1/doc/a'), new RegExp(`entries ${bad} cannot be read and could not be quarantined; no snapshot written`))
    assert.equal(await store.listSnapshots('s1/doc/a'), [])
    assert.ok(await compact(store, 's1/doc/a'))
    assert.equal((await store.listQuarantined('s1/doc/a')).map((q) => q.seq), [bad])
    assert.equal((await replay(store, 's1/doc/a')).doc.getMap('meta').toJSON(), { title: 'Essay' })
  })

  s('the state at a time is the journal up to the first entry written after it', async () => {
    const source = new Y.Doc()
    // A later entry with an earlier time (another instance's clock): the prefix stops before the late-clocked one.
    for (const [key, at] of [['a', 1000], ['b', 3000], ['c', 2000]] as const) await store.append('s1/doc/a', { at, user: 'u1', origin: 'client', update: updateSetting(source, key, at) })
    assert.equal((await replay(store, 's1/doc/a', { at: 2500 })).doc.getMap('meta').toJSON(), { a: 1000 })
    assert.equal((await replay(store, 's1/doc/a', { at: 3000 })).doc.getMap('meta').toJSON(), { a: 1000, b: 3000, c: 2000 })
  })

  s('time travel and truncation replay like loading: unreadable entries are quarantined, not fatal', async () => {
    const source = new Y.Doc()
    await store.append('s1/doc/a', { at: 1000, user: 'u1', origin: 'client', update: updateSetting(source, 'title', 'Essay') })
    const bad = await store.append('s1/doc/a', { at: 1001, user: 'u9', origin: 'client', update: garbageUpdate() })
    const last = await store.append('s1/doc/a', { at: 1002, user: 'u1', origin: 'client', update: updateSetting(source, 'author', 'Ann') })
    await store.append('s1/doc/a', { at: 1003, user: 'u1', origin: 'client', update: updateSetting(source, 'later', true) })
    const past = await stateAt(store, 's1/doc/a', 1002)
    assert.equal(past.getMap('meta').toJSON(), { title: 'Essay', author: 'Ann' })
    assert.equal((await store.listQuarantined('s1/doc/a')).map((q) => q.seq), [bad])
    assert.equal(await truncateHistory(store, 's1/doc/a', 1002), { seq: last, dropped: 2 })
    assert.equal((await store.listQuarantined('s1/doc/a')).map((q) => q.seq), [bad], 'pruning keeps the quarantined entry')
    assert.equal((await replay(store, 's1/doc/a')).doc.getMap('meta').toJSON(), { title: 'Essay', author: 'Ann', later: true })
  })

  s('merging entries older than a minute per user and second keeps state, history and diff exact at every whole second, and loses nothing on reopening', async () => {
    const seed = process.env.SEED ?? `merge-${Date.now()}`
    const rng = new Rng(seed)
    const name = 's1/doc/merge'
    const users = ['u1', 'u2', 'u3']
    // Each user edits a replica; every update reaches the others at once, as through a server.
    const replicas = users.map(() => new Y.Doc())
    const base = 1_700_000_000_000
    let at = base
    for (let i = 0; i < 300; i++) {
      const u = rng.int(users.length)
      const doc = replicas[u]
      let update: Uint8Array | undefined
      const listen = (x: Uint8Array) => (update = x)
      doc.on('update', listen)
      doc.transact(() => {
        if (rng.chance(0.5)) doc.getMap('meta').set(`k${rng.int(6)}`, `${users[u]}-${i}`)
        else {
          const body = doc.getXmlFragment('body')
          if (body.length === 0) body.insert(0, [new Y.XmlText()])
          const text = body.get(0) as Y.XmlText
          if (text.length > 3 && rng.chance(0.3)) text.delete(rng.int(text.length - 2), 2)
          else text.insert(rng.int(text.length + 1), `${users[u][1]}${i} `)
        }
      })
      doc.off('update', listen)
      for (const other of replicas) if (other !== doc) Y.applyUpdate(other, update!)
      // Runs of one user within a second are common, as in real typing.
      at += rng.chance(0.7) ? rng.int(120) : rng.int(1500)
      await store.append(name, { at, user: users[u], origin: 'client', update: update! })
      if (i === 150) await compact(store, name)
    }
    const shown = (doc: Y.Doc) => doc.getXmlFragment('body').toString() + JSON.stringify(Object.entries(doc.getMap('meta').toJSON()).sort())
    const seconds = Array.from({ length: secondOf(at) - secondOf(base) + 2 }, (_, k) => (secondOf(base) - 1 + k) * 1000)
    const states = async () => Promise.all(seconds.map(async (t) => shown(await stateAt(store, name, t))))
    /** Paths per user and second, and the changes between some whole seconds. */
    const traced = async () => {
      const perSecond = new Map<string, Set<string>>()
      for (const item of await history(store, name)) {
        const key = `${secondOf(item.at)} ${item.user}`
        const paths = perSecond.get(key) ?? new Set()
        for (const p of item.paths) paths.add(p)
        perSecond.set(key, paths)
      }
      const diffs = []
      for (let k = 0; k + 5 < seconds.length; k += 7) diffs.push((await diff(store, name, seconds[k], seconds[k + 5])).map((c) => ({ ...c, entries: undefined })))
      return { perSecond: [...perSecond].map(([k, v]) => [k, [...v].sort()]).sort(), diffs }
    }
    const before = { states: await states(), traced: await traced(), entries: (await store.entriesAfter(name, 0)).length }
    const final = shown(replicas[0])
    assert.is(before.states.at(-1), final, `seed ${seed}: the journal holds every edit`)

    const result = await consolidate(store, name, at + MERGE_AFTER_MS + 2000)
    assert.ok(result.removed > 0, `seed ${seed}: something was merged`)
    const entries = await store.entriesAfter(name, 0)
    assert.is(entries.length, before.entries - result.removed, `seed ${seed}`)
    assert.equal(await states(), before.states, `seed ${seed}: the state at every whole second`)
    assert.equal(await traced(), before.traced, `seed ${seed}: history per user and second, and diffs`)
    assert.equal((await consolidate(store, name, at + MERGE_AFTER_MS + 2000)).removed, 0, 'a second pass finds nothing more')

    const { doc } = await replay(sibling(), name)
    assert.is(shown(doc), final, `seed ${seed}: reopened`)
  })

  s('snapshots are kept sparse: the first of each hour and the latest', async () => {
    const hour = 3_600_000
    const listed = [0, 10, 20, hour + 5, hour + 50, 2 * hour + 1, 2 * hour + 9].map((at, i) => ({ doc: 'd', seq: i + 1, at: 7 * hour + at, bytes: 1 }))
    assert.equal(sparseSnapshots(listed), [2, 3, 5])
  })

  return s
}
