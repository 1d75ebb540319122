// The live snapshot's coverage check (server/history/live-snapshot.ts `holdsAll`) against Yjs'
// own answer: seeded editing sessions on several replicas (inserts, deletions across replicas,
// map values, merged entries as consolidation stores them), a random subset of the updates
// applied to the "live" document, and then the question "does it hold all of these?" asked both
// ways. A wrong yes would let a snapshot skip an entry (lost on the next load); a wrong no only
// costs a replay, so the check must never say yes where Yjs says no.
//
//   LIVE_SEED=<n>   another seed (default fixed; `random` picks one)
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import * as Y from 'yjs'
import { holdsAll } from '../server/history/live-snapshot.ts'
import { Rng, testSeed } from './helpers/random.ts'

const SEED = testSeed('LIVE_SEED', '20261203')
const CASES = 60

/** Updates of a seeded session on three replicas that sync now and then. */
function session(rng: Rng): Uint8Array[] {
  const replicas = [new Y.Doc(), new Y.Doc(), new Y.Doc()]
  const updates: Uint8Array[] = []
  replicas.forEach((doc) => doc.on('update', (update: Uint8Array, origin: unknown) => origin !== 'sync' && updates.push(update)))
  for (let step = 0; step < rng.range(5, 60); step++) {
    const doc = rng.pick(replicas)
    const text = doc.getText('body')
    if (text.length > 0 && rng.chance(0.35)) {
      const at = rng.int(text.length)
      text.delete(at, rng.range(1, Math.min(8, text.length - at)))
    } else if (rng.chance(0.2)) doc.getMap('meta').set(`k${rng.int(4)}`, rng.int(100))
    else text.insert(rng.int(text.length + 1), 'abcdefgh'.slice(0, rng.range(1, 8)))
    if (rng.chance(0.3)) {
      const [a, b] = [rng.pick(replicas), rng.pick(replicas)]
      Y.applyUpdate(b, Y.encodeStateAsUpdate(a, Y.encodeStateVector(b)), 'sync')
    }
  }
  return updates
}

/** Some updates merged into one, as history consolidation stores them. */
function stored(rng: Rng, updates: Uint8Array[]): Uint8Array[] {
  const entries: Uint8Array[] = []
  for (let i = 0; i < updates.length; ) {
    const n = rng.chance(0.2) ? rng.range(2, 6) : 1
    const group = updates.slice(i, i + n)
    entries.push(group.length === 1 ? group[0] : Y.mergeUpdates(group))
    i += n
  }
  return entries
}

test(`holdsAll answers as Yjs' snapshotContainsUpdate on the merged entries (seed ${SEED})`, () => {
  let held = 0
  for (let c = 0; c < CASES; c++) {
    const rng = new Rng(`${SEED}:${c}`)
    const entries = stored(rng, session(rng))
    const live = new Y.Doc()
    // Most cases hold everything (the common path), the others miss some entries.
    const missing = rng.chance(0.5) ? 0 : rng.range(1, 3)
    const skipped = new Set(Array.from({ length: missing }, () => rng.int(entries.length)))
    entries.forEach((entry, i) => skipped.has(i) || Y.applyUpdate(live, entry))
    const tail = entries.slice(rng.int(entries.length))
    const truth = Y.snapshotContainsUpdate(Y.snapshot(live), Y.mergeUpdates(tail))
    const answer = holdsAll(live, tail)
    if (answer) held++
    assert.is(answer, truth, `case ${c} (LIVE_SEED=${SEED}): holdsAll ${answer}, Yjs ${truth}`)
  }
  // Both answers were exercised.
  assert.ok(held > 0 && held < CASES, `held in ${held} of ${CASES} cases`)
})

test('an entry that does not decode is not held', () => {
  const live = new Y.Doc()
  live.getText('body').insert(0, 'x')
  assert.is(holdsAll(live, [new Uint8Array([1, 2, 3, 250, 250])]), false)
})

test.run()
