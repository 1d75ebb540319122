#!/usr/bin/env node
// `npm run cluster -- [--instances 3] [--port 8400]`: N local Homeroom instances on consecutive
// ports, joined through one Redis and sharing one PostgreSQL, for development, tests and the
// cluster benchmark. Ctrl-C stops them all gracefully.
//
// DATABASE_URL and REDIS_URL default to the local services: PostgreSQL's `homeroom_cluster`
// database (created if missing; never the `test` database the tests use) and Redis, where the
// instances use the channels of REDIS_KEY_PREFIX (default `homeroom:`). Every other variable is
// passed on. When this process writes to a terminal, the instances' JSON lines are shown
// readable (pino-pretty); otherwise they are passed on as they are.
// Without JWT_SECRET or JWT_PUBLIC_KEY the instances share the secret kept in DATA_DIR
// (default ./data/cluster), so `DATA_DIR=data/cluster npx homeroom token …` mints tokens for all.
import { spawn, type ChildProcess } from 'node:child_process'
import { join, resolve } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import pg from 'pg'
import { prettyFactory } from 'pino-pretty'
import { loadConfig } from '../server/config.ts'
import { signingSecret } from '../server/identity.ts'
import { prettyOutput } from '../server/log.ts'

export interface ClusterOptions {
  instances: number
  /** Port of the first instance; 0 gives every instance an ephemeral port. */
  port: number
  /** Variables for every instance (merged over this process's environment). */
  env?: Record<string, string>
  /** Wraps each instance's command, e.g. `(i) => ['taskset', '-c', String(i)]` to pin it to a CPU. */
  prefix?: (index: number) => string[]
  /** Where instance log lines go; default: this process's stdout. */
  output?: (line: string) => void
}

export interface Instance {
  id: string
  port: number
  url: string
  http: string
  child: ChildProcess
  exited: Promise<number | null>
}

export interface Cluster {
  instances: Instance[]
  stop(): Promise<void>
}

/** The cluster's own database: never the `test` database (tests create and drop theirs inside it). */
export const DEFAULT_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/homeroom_cluster'
export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379'

export async function startCluster(options: ClusterOptions): Promise<Cluster> {
  const env: Record<string, string | undefined> = {
    DATABASE_URL: DEFAULT_DATABASE_URL,
    REDIS_URL: DEFAULT_REDIS_URL,
    ...process.env,
    ...options.env,
  }
  if (env.DATABASE_URL === DEFAULT_DATABASE_URL) await ensureDatabase(DEFAULT_DATABASE_URL)
  const baseDir = resolve(env.DATA_DIR ?? join('data', 'cluster'))
  if (!env.JWT_SECRET && !env.JWT_PUBLIC_KEY) env.JWT_SECRET = signingSecret(loadConfig({ DATA_DIR: baseDir }))
  const instances: Instance[] = []
  const stop = async () => {
    for (const instance of instances) instance.child.kill('SIGTERM')
    await Promise.all(instances.map((i) => i.exited))
  }
  try {
    for (let i = 0; i < options.instances; i++) {
      instances.push(await startInstance(i, options, { ...env, DATA_DIR: join(baseDir, `node-${i + 1}`) }))
    }
  } catch (error) {
    await stop()
    throw error
  }
  return { instances, stop }
}

/** Creates the database of `url` unless it exists (connecting to the server's `postgres` database). */
export async function ensureDatabase(url: string): Promise<void> {
  const target = new URL(url)
  const name = decodeURIComponent(target.pathname.slice(1))
  if (!/^[A-Za-z0-9_]{1,63}$/.test(name)) throw new Error(`cannot create database ${JSON.stringify(name)}: use letters, digits and _`)
  const admin = new URL(url)
  admin.pathname = '/postgres'
  const client = new pg.Client({ connectionString: admin.toString(), connectionTimeoutMillis: 3000 })
  await client.connect().catch((error: Error) => {
    throw new Error(`cannot reach PostgreSQL at ${admin.host} to create database ${name}: ${error.message} (or set DATABASE_URL)`)
  })
  try {
    const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name])
    if (!rowCount) await client.query(`CREATE DATABASE ${name}`)
  } catch (error) {
    // Two clusters starting at once: the other one created it.
    if ((error as { code?: string }).code !== '42P04') throw error
  } finally {
    await client.end()
  }
}

/** The default output: readable lines on a terminal, the instances' JSON lines otherwise. */
function defaultOutput(): (line: string) => void {
  if (!prettyOutput()) return (line) => process.stdout.write(`${line}\n`)
  const format = prettyFactory({ colorize: true, ignore: 'pid,hostname', translateTime: 'SYS:HH:MM:ss.l', singleLine: true })
  return (line) => {
    let entry: unknown
    try {
      entry = JSON.parse(line)
    } catch {
      process.stdout.write(`${line}\n`)
      return
    }
    process.stdout.write(format(entry as object))
  }
}

async function startInstance(index: number, options: ClusterOptions, env: Record<string, string | undefined>): Promise<Instance> {
  const id = `node-${index + 1}`
  const port = options.port === 0 ? 0 : options.port + index
  const command = [...(options.prefix?.(index) ?? []), process.execPath, fileURLToPath(new URL('./homeroom.ts', import.meta.url)), 'serve']
  const child = spawn(command[0], command.slice(1), { env: { ...env, PORT: String(port), INSTANCE_ID: id }, stdio: ['ignore', 'pipe', 'inherit'] })
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)))
  const output = options.output ?? defaultOutput()
  const listening = await new Promise<number>((resolvePort, reject) => {
    const lines = createInterface({ input: child.stdout! })
    lines.on('line', (line) => {
      output(line)
      try {
        const entry = JSON.parse(line)
        if (typeof entry.port === 'number') resolvePort(entry.port)
      } catch {
        // not a log line
      }
    })
    exited.then((code) => reject(new Error(`instance ${id} exited with ${code} before listening`)))
  })
  return { id, port: listening, url: `ws://127.0.0.1:${listening}`, http: `http://127.0.0.1:${listening}`, child, exited }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { instances: { type: 'string', short: 'n', default: '3' }, port: { type: 'string', short: 'p', default: process.env.PORT ?? '8400' } },
  })
  const count = Number(values.instances)
  const port = Number(values.port)
  if (!Number.isInteger(count) || count < 1 || count > 64) throw new Error(`--instances: expected 1 to 64, got ${values.instances}`)
  if (!Number.isInteger(port) || port < 0 || port + count > 65536) throw new Error(`--port: expected a port, got ${values.port}`)
  const cluster = await startCluster({ instances: count, port })
  process.stderr.write(`cluster ready: ${cluster.instances.map((i) => i.url).join(' ')} (Ctrl-C stops all)\n`)
  let stopping = false
  const shutdown = () => {
    if (stopping) return
    stopping = true
    cluster.stop().then(() => process.exit(0))
  }
  process.once('SIGINT', shutdown)
  process.once('SIGTERM', shutdown)
  for (const instance of cluster.instances) {
    instance.exited.then((code) => {
      if (!stopping) process.stderr.write(`instance ${instance.id} exited with ${code}\n`)
    })
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((error) => {
    process.stderr.write(`cluster: ${(error as Error).message}\n`)
    process.exit(2)
  })
}
