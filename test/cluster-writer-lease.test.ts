// Writer leases (extensions/observers/writer-lease.ts), on Redis (what servers use) and on the
// shared PostgreSQL store: two instances (two owners, each with a connection of its own) write
// "derived state" into the same documents at seeded random moments. Their writes never overlap
// in time, both get their turns, the lease is asked for far less often than they write, and a
// holder that dies (nothing released) keeps the other waiting no longer than about a lease.
import { randomBytes } from 'node:crypto'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { Redis } from 'ioredis'
import { PgStore } from '../server/store/postgres.ts'
import { systemClock } from '../server/clock.ts'
import { WriterLeases, WRITER_LEASE_MAX_MS } from '../extensions/observers/writer-lease.ts'
import { redisLeases, type LeaseStore } from '../extensions/redis/leases.ts'
import { freshDatabase, redisReachable, SHARED_REDIS_URL } from './helpers/services.ts'
import { Rng, testSeed } from './helpers/random.ts'

const seed = testSeed('WRITER_LEASE_SEED', 'w1')
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** A backend: lease stores for separate "instances", and one that can be made to die. */
interface Backend {
  name: string
  stores: LeaseStore[]
  /** A store that stops answering once `kill` is called. */
  mortal(): { store: LeaseStore; kill(): Promise<void> }
  close(): Promise<void>
}

/** The real store, counting the lease requests that reach it. */
function counted(store: LeaseStore): { store: LeaseStore; takes: () => number } {
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

const backends: Backend[] = []
const db = await freshDatabase('writer-lease')
if (db) {
  const stores = [new PgStore(db.url, { poolSize: 2 }), new PgStore(db.url, { poolSize: 2 })]
  backends.push({
    name: 'PostgreSQL',
    stores,
    mortal() {
      const store = new PgStore(db.url, { poolSize: 1, attempts: 1 })
      return { store, kill: () => store.close() }
    },
    async close() {
      await Promise.all(stores.map((s) => s.close()))
      await db.drop()
    },
  })
}
if (await redisReachable()) {
  const prefix = `lease-test-${randomBytes(4).toString('hex')}:`
  const clients = [new Redis(SHARED_REDIS_URL), new Redis(SHARED_REDIS_URL)]
  backends.push({
    name: 'Redis',
    stores: clients.map((c) => redisLeases(c, prefix)),
    mortal() {
      const client = new Redis(SHARED_REDIS_URL, { enableOfflineQueue: false, maxRetriesPerRequest: 0 })
      client.on('error', () => {})
      return { store: redisLeases(client, prefix), kill: async () => client.disconnect() }
    },
    async close() {
      clients.forEach((c) => c.disconnect())
    },
  })
}

test.after(async () => {
  await Promise.all(backends.map((b) => b.close()))
})

for (const backend of backends) {
  test(`${backend.name}: two instances writing into the same documents take turns, never overlapping (seed ${seed})`, async () => {
    const docs = ['s1/exam/e1/monitor', 's1/poll/p1']
    const writes: Array<{ owner: number; doc: string; from: number; to: number; overran: boolean }> = []
    const counters = backend.stores.map(counted)
    const instances = counters.map((c, i) => new WriterLeases({ store: c.store, owner: `instance-${i}`, clock: systemClock, leaseMs: 15_000 }))
    const deadline = Date.now() + 20_000
    const writer = async (owner: number) => {
      const rng = new Rng(`${seed}:${owner}`)
      for (let n = 0; n < 120; n++) {
        const doc = rng.pick(docs)
        assert.ok(await instances[owner].hold(doc, () => Date.now() < deadline), `instance ${owner} got no turn on ${doc} in time`)
        const from = Date.now()
        // A derived write: well within the half lease hold() guarantees, unless a loaded machine
        // stalls this process for longer (then the lease ran out meanwhile, which it knows).
        await sleep(rng.range(1, 15))
        writes.push({ owner, doc, from, to: Date.now(), overran: !instances[owner].holds(doc) })
        await sleep(rng.range(0, 40))
      }
    }
    await Promise.all([writer(0), writer(1)])
    for (const doc of docs) {
      const mine = writes.filter((w) => w.doc === doc).sort((a, b) => a.from - b.from)
      for (let i = 1; i < mine.length; i++) {
        const [before, after] = [mine[i - 1], mine[i]]
        // A write that outlasted its lease is not covered by it: the holder sees it ran out (derived writes write what differs, so a late one is harmless).
        if (before.owner !== after.owner && !before.overran) assert.ok(after.from >= before.to, `${doc}: instance ${after.owner} wrote at ${after.from} while instance ${before.owner} wrote until ${before.to}`)
      }
      assert.is(new Set(mine.map((w) => w.owner)).size, 2, `${doc}: both instances had turns`)
    }
    // Only a write stalled past the half lease hold() guaranteed can outlast it.
    for (const w of writes.filter((w) => w.overran)) assert.ok(w.to - w.from >= WRITER_LEASE_MAX_MS / 2, `a ${w.to - w.from} ms write outlasted its lease`)
    const takes = counters.reduce((n, c) => n + c.takes(), 0)
    assert.ok(takes < writes.length, `${takes} lease requests for ${writes.length} writes`)
    await Promise.all(instances.map((i) => i.releaseAll()))
  })

  test(`${backend.name}: a holder that dies (nothing released) keeps the other waiting at most about a lease`, async () => {
    const mortal = backend.mortal()
    const dead = new WriterLeases({ store: mortal.store, owner: 'dead', clock: systemClock, leaseMs: 15_000 })
    const alive = new WriterLeases({ store: backend.stores[1], owner: 'alive', clock: systemClock, leaseMs: 15_000 })
    assert.ok(await dead.hold('s1/poll/p2', () => true))
    await mortal.kill()
    const asked = Date.now()
    assert.ok(await alive.hold('s1/poll/p2', () => Date.now() - asked < 10_000))
    assert.ok(alive.holds('s1/poll/p2'), 'the lease is held, not skipped')
    const waited = Date.now() - asked
    assert.ok(waited <= WRITER_LEASE_MAX_MS + 500, `waited ${waited} ms for a dead holder's lease`)
    assert.ok(dead.holds('s1/poll/p2') === false, 'the dead holder knows its lease ran out')
    await alive.releaseAll()
  })
}

test('while the lease cannot be asked for, writes go ahead without it', async () => {
  const client = new Redis('redis://127.0.0.1:1', { enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy: () => null, lazyConnect: true })
  client.on('error', () => {})
  const leases = new WriterLeases({ store: redisLeases(client, 'x:'), owner: 'lonely', clock: systemClock, leaseMs: 15_000 })
  assert.ok(await leases.hold('s1/poll/p3', () => true))
  assert.ok(!leases.holds('s1/poll/p3'), 'nothing is held')
  client.disconnect()
})

test.run()
