// Several Homeroom instances in separate processes, sharing a fresh PostgreSQL database and a
// Redis, plus the checks cluster tests make: convergence and a journal holding each update once.
import { randomBytes } from 'node:crypto'
import { rmSync } from 'node:fs'
import * as Y from 'yjs'
import { startServerProcess, tempDir, type ServerProcess } from './server.ts'
import { until, type Client } from './clients.ts'
import { freshDatabase, redisReachable, SHARED_REDIS_URL, sql, type TestDatabase } from './services.ts'

export interface TestCluster {
  db: TestDatabase
  redisUrl: string
  /** The cluster's REDIS_KEY_PREFIX: its own unless the test set one, so clusters of files running side by side never exchange documents. */
  prefix: string
  instances: ServerProcess[]
  /** SIGKILLs one instance and waits until it is gone. */
  kill(index: number): Promise<void>
  /** Stops every instance still running and drops the database. */
  stop(): Promise<void>
}

/** Longer than an instance's own shutdown bound (server/main.ts). */
const STOP_DEADLINE_MS = 30_000
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref())

/** Starts `count` instances, or returns undefined (after a SKIPPED line) when a service is down. */
export async function startTestCluster(label: string, count: number, options: { redisUrl?: string; env?: Record<string, string> } = {}): Promise<TestCluster | undefined> {
  const redisUrl = options.redisUrl ?? SHARED_REDIS_URL
  if (!options.redisUrl && !(await redisReachable(redisUrl))) return undefined
  const db = await freshDatabase(label)
  if (!db) return undefined
  const dirs = Array.from({ length: count }, () => tempDir())
  const prefix = options.env?.REDIS_KEY_PREFIX ?? `${label}-${randomBytes(4).toString('hex')}:`
  const instances = await Promise.all(
    dirs.map((dir, i) =>
      startServerProcess(dir, { DATABASE_URL: db.url, REDIS_URL: redisUrl, REDIS_KEY_PREFIX: prefix, INSTANCE_ID: `${label}-${i + 1}`, PG_POOL_SIZE: '4', ...options.env }),
    ),
  )
  return {
    db,
    redisUrl,
    prefix,
    instances,
    async kill(index) {
      instances[index].child.kill('SIGKILL')
      await instances[index].exited
    },
    async stop() {
      const stillRunning = () => instances.filter((i) => i.child.exitCode === null && i.child.signalCode === null)
      for (const instance of stillRunning()) instance.child.kill('SIGTERM')
      // An instance bounds its own shutdown (20 s); one still running well after is a bug to report, not to wait for.
      const allExited = Promise.all(instances.map((i) => i.exited))
      const late = await Promise.race([allExited.then(() => []), sleep(STOP_DEADLINE_MS).then(() => stillRunning().map((i) => i.child.pid))])
      for (const instance of stillRunning()) instance.child.kill('SIGKILL')
      await allExited
      await db.drop()
      for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
      if (late.length > 0) throw new Error(`instances (pid ${late.join(', ')}) still running ${STOP_DEADLINE_MS} ms after SIGTERM`)
    },
  }
}

/** Waits until every client holds the same state as the first: same structs, same deletions. */
export async function converged(clients: Client[], timeoutMs: number, what: string): Promise<void> {
  await until(() => {
    const first = Y.snapshot(clients[0].doc)
    return clients.every((c) => Y.equalSnapshots(first, Y.snapshot(c.doc)))
  }, { timeout: timeoutMs, what })
}

export interface JournalCheck {
  entries: number
  /** Struct ranges journaled more than once, as `client:clock`. */
  duplicates: string[]
  /** Clients whose journaled structs fall short of the state, as `client: journaled/expected`. */
  missing: string[]
}

/** Compares a document's journal with its converged state: each struct journaled exactly once. */
export async function checkJournal(dbUrl: string, doc: string, state: Y.Doc): Promise<JournalCheck> {
  const rows = await sql<{ update_bytes: Buffer }>(dbUrl, 'SELECT update_bytes FROM journal WHERE doc = $1 ORDER BY seq', [doc])
  const seen = new Map<number, Array<[number, number]>>()
  for (const row of rows) {
    for (const struct of Y.decodeUpdate(new Uint8Array(row.update_bytes)).structs) {
      if (struct instanceof Y.Skip) continue
      const ranges = seen.get(struct.id.client) ?? []
      ranges.push([struct.id.clock, struct.id.clock + struct.length])
      seen.set(struct.id.client, ranges)
    }
  }
  const duplicates: string[] = []
  const journaled = new Map<number, number>()
  for (const [client, ranges] of seen) {
    ranges.sort((a, b) => a[0] - b[0])
    let end = 0
    let total = 0
    for (const [from, to] of ranges) {
      if (from < end) duplicates.push(`${client}:${from}`)
      total += Math.max(0, to - Math.max(from, end))
      end = Math.max(end, to)
    }
    journaled.set(client, total)
  }
  const missing: string[] = []
  for (const [client, clock] of Y.decodeStateVector(Y.encodeStateVector(state))) {
    if ((journaled.get(client) ?? 0) !== clock) missing.push(`${client}: ${journaled.get(client) ?? 0}/${clock}`)
  }
  return { entries: rows.length, duplicates, missing }
}

/**
 * Every value the journal wrote under the map key `key`, per document of `docs` (a name, or a
 * LIKE pattern), in order. An overwrite names its key only through its origin (the entry it
 * replaced), so keys are followed along origins. One value per document is a write made once.
 */
export async function valuesWrittenIn(dbUrl: string, docs: string, key: string): Promise<Map<string, unknown[]>> {
  const rows = await sql<{ doc: string; update_bytes: Buffer }>(dbUrl, 'SELECT doc, update_bytes FROM journal WHERE doc LIKE $1 ORDER BY seq', [docs])
  const keyOf = new Map<string, Map<string, string | null>>()
  const values = new Map<string, unknown[]>()
  for (const row of rows) {
    const keys = keyOf.get(row.doc) ?? new Map<string, string | null>()
    keyOf.set(row.doc, keys)
    for (const s of Y.decodeUpdate(new Uint8Array(row.update_bytes)).structs) {
      if (!(s instanceof Y.Item)) continue
      const k = s.parentSub ?? (s.origin ? (keys.get(`${s.origin.client}:${s.origin.clock}`) ?? null) : null)
      for (let i = 0; i < s.length; i++) keys.set(`${s.id.client}:${s.id.clock + i}`, k)
      if (k !== key) continue
      const list = values.get(row.doc) ?? []
      list.push(s.content.getContent()[0])
      values.set(row.doc, list)
    }
  }
  return values
}

/** Every value the journal of `doc` wrote under the map key `key`, in order. */
export async function valuesWritten(dbUrl: string, doc: string, key: string): Promise<unknown[]> {
  return (await valuesWrittenIn(dbUrl, doc.replace(/[%_\\]/g, (c) => `\\${c}`), key)).get(doc) ?? []
}
