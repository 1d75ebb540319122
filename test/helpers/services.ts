// Real PostgreSQL and Redis for tests: a fresh database per test file, a private redis-server a
// test may stop and start, and the SKIPPED-or-fail rule when a service cannot be reached.
import { spawn, type ChildProcess } from 'node:child_process'
import { createServer } from 'node:net'
import { randomBytes } from 'node:crypto'
import pg from 'pg'
import { Redis as IORedis } from 'ioredis'

/** The shared PostgreSQL (trust auth); each test file creates its own database inside it. */
export const POSTGRES_ADMIN_URL = process.env.TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
export const SHARED_REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379'

/**
 * Call when a service cannot be reached: fails under CI, else prints a loud SKIPPED line and
 * returns false so the caller can leave its tests out.
 */
export function unavailable(service: string, error: unknown): false {
  const reason = `${service} unreachable (${(error as Error)?.message ?? error})`
  if (process.env.CI) throw new Error(`${reason}; CI is set, so this is a failure, not a skip`)
  console.log(`\n!!! SKIPPED: ${reason}; these tests did not run !!!\n`)
  return false
}

export interface TestDatabase {
  url: string
  drop(): Promise<void>
}

/** Creates an empty database of its own, or returns undefined (after the SKIPPED line) when PostgreSQL is down. */
export async function freshDatabase(label: string): Promise<TestDatabase | undefined> {
  const name = `homeroom_${label.replace(/\W/g, '_')}_${randomBytes(4).toString('hex')}`
  const admin = new pg.Client({ connectionString: POSTGRES_ADMIN_URL, connectionTimeoutMillis: 3000 })
  try {
    await admin.connect()
    await admin.query(`CREATE DATABASE ${name}`)
  } catch (error) {
    await admin.end().catch(() => {})
    unavailable('PostgreSQL at ' + POSTGRES_ADMIN_URL, error)
    return undefined
  }
  await admin.end()
  const url = new URL(POSTGRES_ADMIN_URL)
  url.pathname = `/${name}`
  return {
    url: url.toString(),
    async drop() {
      const client = new pg.Client({ connectionString: POSTGRES_ADMIN_URL })
      await client.connect()
      try {
        await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
      } finally {
        await client.end()
      }
    },
  }
}

/** Runs SQL against a test database (for assertions on the journal). */
export async function sql<R extends pg.QueryResultRow>(url: string, text: string, values: unknown[] = []): Promise<R[]> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    return (await client.query<R>(text, values)).rows
  } finally {
    await client.end()
  }
}

/** Answers whether Redis at `url` replies to PING within a second. */
export async function redisReachable(url = SHARED_REDIS_URL): Promise<boolean> {
  const redis = new IORedis(url, { lazyConnect: true, connectTimeout: 1000, maxRetriesPerRequest: 0, retryStrategy: () => null })
  redis.on('error', () => {})
  try {
    await redis.connect()
    return (await redis.ping()) === 'PONG'
  } catch (error) {
    return unavailable(`Redis at ${url}`, error)
  } finally {
    redis.disconnect()
  }
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  })
}

/** A redis-server of the test's own on a free port, so stopping it disturbs nobody else. */
export interface PrivateRedis {
  url: string
  port: number
  /** Kills the server (SIGKILL: an outage, not a shutdown). */
  stop(): Promise<void>
  /** Starts it again on the same port. */
  start(): Promise<void>
}

export async function startPrivateRedis(): Promise<PrivateRedis | undefined> {
  const port = await freePort()
  let child: ChildProcess | undefined
  const url = `redis://127.0.0.1:${port}`
  const start = async () => {
    child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' })
    const spawned = child
    const failed = new Promise<never>((_, reject) => {
      spawned.once('error', reject)
      spawned.once('exit', (code) => reject(new Error(`redis-server exited with ${code}`)))
    })
    failed.catch(() => {})
    const deadline = Date.now() + 5000
    for (;;) {
      const probe = new IORedis(url, { lazyConnect: true, connectTimeout: 500, maxRetriesPerRequest: 0, retryStrategy: () => null })
      probe.on('error', () => {})
      try {
        await Promise.race([probe.connect().then(() => probe.ping()), failed])
        return
      } catch (error) {
        if (Date.now() > deadline || spawned.exitCode !== null) throw error
        await new Promise((r) => setTimeout(r, 50))
      } finally {
        probe.disconnect()
      }
    }
  }
  const stop = async () => {
    const running = child
    if (!running || running.exitCode !== null) return
    const exited = new Promise((r) => running.once('exit', r))
    running.kill('SIGKILL')
    await exited
  }
  try {
    await start()
  } catch (error) {
    await stop()
    unavailable('redis-server (private instance)', error)
    return undefined
  }
  return { url, port, start, stop }
}
