// A class's stats are kept one activity entry at a time (docs-model/surfaces/class/state.ts
// `ActivityCounts`, fed by the changed keys of each transaction as the classroom observer does):
// checked differentially against a full count after every step of seeded activity changes.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import * as Y from 'yjs'
import { Rng, testSeed } from './helpers/random.ts'
import { ActivityCounts, classStats } from '../docs-model/surfaces/class/state.ts'

const seed = testSeed('ACTIVITY_SEED', 'activity-1')
console.log(`activity counts seed: ${seed} (ACTIVITY_SEED=<seed> to replay, ACTIVITY_SEED=random for a new one)`)

test('incremental class stats equal a full count after every step of seeded activity changes', () => {
  for (let round = 0; round < 100; round++) {
    const rng = new Rng(`${seed}/${round}`)
    const doc = new Y.Doc()
    const activity = doc.getMap('activity')
    for (let i = rng.int(10); i > 0; i--) activity.set(`u${rng.int(40)}`, { state: 'active' })
    const counts = new ActivityCounts(activity)
    activity.observe((event) => {
      for (const user of event.keysChanged) counts.set(user, activity.get(user))
    })
    const classSize = rng.int(40)
    for (let step = 0; step < 100; step++) {
      doc.transact(() => {
        for (let i = rng.range(1, 3); i > 0; i--) {
          const user = `u${rng.int(40)}`
          const change = rng.weighted([
            [5, () => activity.set(user, { state: rng.pick(['active', 'idle', 'away']), handRaised: rng.chance(0.3), at: step })],
            [1, () => activity.delete(user)],
            [1, () => activity.set(user, rng.pick([null, 'active', 7, { state: 'asleep' }, { handRaised: true }]))],
          ] as const)
          change()
        }
      })
      assert.equal(counts.stats(classSize), classStats(doc, classSize), `round ${round} step ${step}`)
    }
    doc.destroy()
  }
})

test.run()
