// Writer leases (extensions/observers/writer-lease.ts) on the shared PostgreSQL store: two
// instances (two owners, each with a store of its own) write "derived state" into the same
// documents at seeded random moments. Their writes never overlap in time, both get their turns,
// the store is asked far less often than they write, and a holder that dies (stops renewing)
// keeps the other waiting no longer than a lease.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { PgStore } from '../server/store/postgres.ts'
import { systemClock } from '../server/clock.ts'
import type { ClaimStore } from '../server/store/types.ts'
import { WriterLeases, WRITER_LEASE_MAX_MS } from '../extensions/observers/writer-lease.ts'
import { freshDatabase } from './helpers/services.ts'
import { Rng, testSeed } from './helpers/random.ts'

const db = await freshDatabase('writer-lease')
const seed = testSeed('WRITER_LEASE_SEED', 'w1')

/** The real store, counting the lease requests that reach it. */
function counted(store: PgStore): { store: Pick<ClaimStore, 'takeLease' | 'releaseLease'>; takes: () => number } {
  let takes = 0
  return {
    store: {
      takeLease: (...args) => {
        takes++
        return store.takeLease(...args)
      },
      releaseLease: (...args) => store.releaseLease(...args),
    },
    takes: () => takes,
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

if (db) {
  const stores = [new PgStore(db.url, { poolSize: 2 }), new PgStore(db.url, { poolSize: 2 })]
  test.after(async () => {
    await Promise.all(stores.map((s) => s.close()))
    await db.drop()
  })

  test(`two instances writing into the same documents take turns, never overlapping (seed ${seed})`, async () => {
    const docs = ['s1/exam/e1/monitor', 's1/poll/p1']
    const writes: Array<{ owner: number; doc: string; from: number; to: number }> = []
    const counters = stores.map(counted)
    const instances = counters.map((c, i) => new WriterLeases({ store: c.store, owner: `instance-${i}`, clock: systemClock, leaseMs: 15_000 }))
    const deadline = Date.now() + 20_000
    const writer = async (owner: number) => {
      const rng = new Rng(`${seed}:${owner}`)
      for (let n = 0; n < 120; n++) {
        const doc = rng.pick(docs)
        assert.ok(await instances[owner].hold(doc, () => Date.now() < deadline), `instance ${owner} got no turn on ${doc} in time`)
        const from = Date.now()
        // A derived write: well within the half lease hold() guarantees.
        await sleep(rng.range(1, 15))
        writes.push({ owner, doc, from, to: Date.now() })
        await sleep(rng.range(0, 40))
      }
    }
    await Promise.all([writer(0), writer(1)])
    for (const doc of docs) {
      const mine = writes.filter((w) => w.doc === doc).sort((a, b) => a.from - b.from)
      for (let i = 1; i < mine.length; i++) {
        const [before, after] = [mine[i - 1], mine[i]]
        if (before.owner !== after.owner) assert.ok(after.from >= before.to, `${doc}: instance ${after.owner} wrote at ${after.from} while instance ${before.owner} wrote until ${before.to}`)
      }
      const owners = new Set(mine.map((w) => w.owner))
      assert.is(owners.size, 2, `${doc}: both instances had turns`)
    }
    const takes = counters.reduce((n, c) => n + c.takes(), 0)
    assert.ok(takes < writes.length, `${takes} lease requests for ${writes.length} writes`)
    await Promise.all(instances.map((i) => i.releaseAll()))
  })

  test('a holder that dies (its store gone, nothing released) keeps the other waiting at most about a lease', async () => {
    const deadStore = new PgStore(db.url, { poolSize: 1, attempts: 1 })
    const dead = new WriterLeases({ store: deadStore, owner: 'dead', clock: systemClock, leaseMs: 15_000 })
    const alive = new WriterLeases({ store: stores[1], owner: 'alive', clock: systemClock, leaseMs: 15_000 })
    assert.ok(await dead.hold('s1/poll/p2', () => true))
    await deadStore.close()
    const asked = Date.now()
    assert.ok(await alive.hold('s1/poll/p2', () => Date.now() - asked < 10_000))
    const waited = Date.now() - asked
    assert.ok(waited <= WRITER_LEASE_MAX_MS + 500, `waited ${waited} ms for a dead holder's lease`)
    assert.ok(dead.holds('s1/poll/p2') === false, 'the dead holder knows its lease ran out')
    await alive.releaseAll()
  })

  test.run()
}
