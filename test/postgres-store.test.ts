// The PostgreSQL store behaves like the SQLite store (one shared suite runs against both), and
// holds up where several instances share it: migrations, concurrent appends, claims, retries.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import * as Y from 'yjs'
import { openStore } from '../server/store/open.ts'
import { loadConfig } from '../server/config.ts'
import { PgStore } from '../server/store/postgres.ts'
import { SqliteStore } from '../server/store/sqlite.ts'
import { replay } from '../server/history/replay.ts'
import { eventually } from './helpers/clients.ts'
import { freePort, freshDatabase, sql, type TestDatabase } from './helpers/services.ts'
import { tempDir } from './helpers/server.ts'
import { rejects, storeBehaviour } from './helpers/store-behaviour.ts'

const database = await freshDatabase('store')

/** Empties the database so the next store migrates from nothing. */
async function resetSchema(db: TestDatabase): Promise<void> {
  await sql(db.url, 'DROP SCHEMA public CASCADE; CREATE SCHEMA public')
}

storeBehaviour('SQLite', async () => {
  const dir = tempDir()
  const file = join(dir, 'homeroom.db')
  // The server's configuration (an append log); a sibling is a command line on the same file.
  const store = new SqliteStore(file, { appendLog: true })
  const siblings: SqliteStore[] = []
  return {
    store,
    sibling: () => siblings[siblings.push(new SqliteStore(file)) - 1],
    async close() {
      await Promise.all([store, ...siblings].map((s) => s.close()))
      rmSync(dir, { recursive: true, force: true })
    },
  }
}).run()

if (database) {
  storeBehaviour('PostgreSQL', async () => {
    await resetSchema(database)
    const store = new PgStore(database.url, { poolSize: 4 })
    const siblings: PgStore[] = []
    return {
      store,
      sibling: () => siblings[siblings.push(new PgStore(database.url, { poolSize: 4 })) - 1],
      close: async () => {
        await Promise.all([store, ...siblings].map((s) => s.close()))
      },
    }
  }).run()

  const update = (key: string, value: unknown, doc = new Y.Doc()): Uint8Array => {
    let captured!: Uint8Array
    doc.once('update', (u: Uint8Array) => (captured = u))
    doc.getMap('meta').set(key, value)
    return captured
  }

  test.before.each(() => resetSchema(database))
  test.after(() => database.drop())

  test('the schema is created once, versioned, also when instances start together', async () => {
    const stores = Array.from({ length: 4 }, () => new PgStore(database.url, { poolSize: 2 }))
    try {
      await Promise.all(stores.map((s) => s.ready()))
      const versions = await sql<{ version: number }>(database.url, 'SELECT version FROM homeroom_migrations ORDER BY version')
      assert.equal(versions.map((v) => v.version), [1, 2, 3, 4, 5])
      const again = new PgStore(database.url)
      await again.ready()
      await again.close()
      assert.is((await sql(database.url, 'SELECT * FROM homeroom_migrations')).length, 5)
    } finally {
      await Promise.all(stores.map((s) => s.close()))
    }
  })

  test('DATABASE_URL selects PostgreSQL with a pool of PG_POOL_SIZE connections', async () => {
    const store = openStore(loadConfig({ DATABASE_URL: database.url, PG_POOL_SIZE: '7' }))
    try {
      assert.instance(store, PgStore)
      assert.is((store as PgStore).pool.options.max, 7)
      assert.is(store.kind, 'postgres')
    } finally {
      await store.close()
    }
  })

  test('instances appending to one document together: every entry once, in one sequence', async () => {
    const a = new PgStore(database.url, { poolSize: 5 })
    const b = new PgStore(database.url, { poolSize: 5 })
    try {
      const writers = [new Y.Doc(), new Y.Doc(), new Y.Doc(), new Y.Doc()]
      const appends = writers.flatMap((doc, w) =>
        Array.from({ length: 50 }, (_, i) => (w % 2 ? a : b).append('s1/doc/shared', { at: Date.now(), user: `u${w}`, origin: 'client', update: update(`w${w}-${i}`, i, doc) })),
      )
      const seqs = await Promise.all(appends)
      assert.is(new Set(seqs).size, 200)
      const entries = await a.entriesAfter('s1/doc/shared', 0)
      assert.is(entries.length, 200)
      assert.equal(entries.map((e) => e.seq), [...seqs].sort((x, y) => x - y))
      assert.is((await b.listDocuments())[0].updates, 200)
      assert.is(Object.keys((await replay(b, 's1/doc/shared')).doc.getMap('meta').toJSON()).length, 200)
    } finally {
      await Promise.all([a.close(), b.close()])
    }
  })

  test('an append retried after a lost answer is journaled once', async () => {
    const store = new PgStore(database.url)
    try {
      const bytes = update('k', 1)
      const first = await store.append('s1/doc/a', { at: 1, user: 'u1', origin: 'client', update: bytes })
      const retried = await store.append('s1/doc/a', { at: 2, user: 'u1', origin: 'client', update: bytes })
      assert.is(retried, first)
      assert.is((await store.entriesAfter('s1/doc/a', 0)).length, 1)
      assert.is((await store.listDocuments())[0].updates, 1)
    } finally {
      await store.close()
    }
  })

  test('a key is claimed once across instances', async () => {
    const stores = Array.from({ length: 3 }, () => new PgStore(database.url, { poolSize: 4 }))
    try {
      const results = await Promise.all(Array.from({ length: 30 }, (_, i) => stores[i % 3].claim('exam:s1/exam/e1:close')))
      assert.is(results.filter(Boolean).length, 1)
    } finally {
      await Promise.all(stores.map((s) => s.close()))
    }
  })

  test('connections broken mid-flight are retried, and each entry is still journaled once', async () => {
    const store = new PgStore(database.url, { poolSize: 3 })
    try {
      await store.ready()
      const doc = new Y.Doc()
      const COUNT = 2000
      let done = 0
      const appends = Promise.all(
        Array.from({ length: COUNT }, (_, i) =>
          store.append('s1/doc/a', { at: i, user: 'u1', origin: 'client', update: update(`k${i}`, i, doc) }).finally(() => done++),
        ),
      )
      const others = 'FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()'
      await eventually(async () => (await sql(database.url, `SELECT pid ${others}`)).length >= 1, 5000, 'the pool to connect')
      const killed = await sql(database.url, `SELECT pg_terminate_backend(pid) ${others}`)
      assert.ok(killed.length >= 1 && done < COUNT, `connections broken while appends were in flight (${done} of ${COUNT} done)`)
      assert.is(new Set(await appends).size, COUNT)
      assert.is((await store.entriesAfter('s1/doc/a', 0)).length, COUNT)
    } finally {
      await store.close()
    }
  })

  test('an operation waits for a free connection while the pool is busy, without spending its attempts', async () => {
    // A connect timeout a loaded machine's PostgreSQL still meets when opening the one connection.
    const store = new PgStore(database.url, { poolSize: 1, attempts: 2, connectTimeoutMs: 1000 })
    try {
      await store.ready()
      const held = await store.pool.connect()
      // Longer than both attempts with their backoff (1000 + 50 + 1000 ms): counted as attempts, the waits would fail the append.
      const released = new Promise((r) => setTimeout(r, 2500)).then(() => held.release())
      const seq = await store.append('s1/doc/busy', { at: 1, user: 'u1', origin: 'client', update: update('k', 1) })
      await released
      assert.equal((await store.entriesAfter('s1/doc/busy', 0)).map((e) => e.seq), [seq])
    } finally {
      await store.close()
    }
  })

  test('a pool busy for longer than busyWaitMs fails the operation', async () => {
    const store = new PgStore(database.url, { poolSize: 1, attempts: 2, connectTimeoutMs: 100, busyWaitMs: 300 })
    try {
      await store.ready()
      const held = await store.pool.connect()
      try {
        const started = Date.now()
        await rejects(store.append('s1/doc/busy', { at: 1, user: 'u1', origin: 'client', update: update('k', 1) }), /timeout exceeded when trying to connect/)
        assert.ok(Date.now() - started < 2000)
      } finally {
        held.release()
      }
    } finally {
      await store.close()
    }
  })

  test('an unreachable server fails the operation after a few attempts instead of hanging', async () => {
    const port = await freePort()
    const store = new PgStore(`postgres://postgres@127.0.0.1:${port}/test`, { attempts: 3 })
    try {
      const started = Date.now()
      await rejects(store.append('s1/doc/a', { at: 1, user: null, origin: 'client', update: update('k', 1) }), /ECONNREFUSED|connect/)
      assert.ok(Date.now() - started < 5000)
    } finally {
      await store.close()
    }
  })

  test.run()
}
