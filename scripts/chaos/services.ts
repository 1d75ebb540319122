// The services a chaos run owns: a fresh PostgreSQL database reached through a TCP proxy it can
// cut, a private redis-server it can kill and restart (never the machine's shared Redis), and a
// webhook receiver on 127.0.0.1. Redis keeps an append-only file, fsynced per write, so the
// outbound event stream survives its restarts and can be checked at the end.
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Redis as IORedis } from 'ioredis'
import { startProxy, type Proxy } from '../../test/helpers/proxy.ts'
import { freePort, freshDatabase, type TestDatabase } from '../../test/helpers/services.ts'
import { webhookReceiver, type WebhookReceiver } from '../../test/helpers/safety.ts'

export interface ChaosRedis {
  url: string
  /** SIGKILL: an outage, not a shutdown. */
  stop(): Promise<void>
  start(): Promise<void>
  /** A client of its own, for reading the outbound stream at the end. */
  client(): IORedis
  close(): Promise<void>
}

export interface ChaosServices {
  db: TestDatabase
  /** The URL the instances use: through the proxy. */
  databaseUrl: string
  proxy: Proxy
  redis: ChaosRedis
  alerts: WebhookReceiver
  events: WebhookReceiver
  close(): Promise<void>
}

export async function startServices(label: string): Promise<ChaosServices> {
  const db = await freshDatabase(label)
  if (!db) throw new Error('PostgreSQL is not reachable at 127.0.0.1:5432')
  const url = new URL(db.url)
  const proxy = await startProxy(Number(url.port || 5432), url.hostname)
  url.port = String(proxy.port)
  const redis = await startRedis()
  const alerts = await webhookReceiver()
  const events = await webhookReceiver()
  return {
    db,
    databaseUrl: url.toString(),
    proxy,
    redis,
    alerts,
    events,
    async close() {
      await Promise.all([proxy.close(), redis.close(), alerts.close(), events.close()])
      await db.drop()
    },
  }
}

async function startRedis(): Promise<ChaosRedis> {
  const port = await freePort()
  const dir = mkdtempSync(join(tmpdir(), 'homeroom-chaos-redis-'))
  const url = `redis://127.0.0.1:${port}`
  let child: ChildProcess | undefined
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'yes', '--appendfsync', 'always']
  const start = async () => {
    const spawned = (child = spawn('redis-server', args, { stdio: 'ignore' }))
    const orphan = () => spawned.kill('SIGKILL')
    process.once('exit', orphan)
    spawned.once('exit', () => process.off('exit', orphan))
    const failed = new Promise<never>((_, reject) => {
      spawned.once('error', reject)
      spawned.once('exit', (code) => reject(new Error(`redis-server exited with ${code}`)))
    })
    failed.catch(() => {})
    const deadline = Date.now() + 10_000
    for (;;) {
      const probe = new IORedis(url, { lazyConnect: true, connectTimeout: 500, maxRetriesPerRequest: 0, retryStrategy: () => null })
      probe.on('error', () => {})
      try {
        // PING answers while the append-only file is still loading; a read waits until it is in.
        await Promise.race([probe.connect().then(() => probe.exists('probe')), failed])
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
    if (!running || running.exitCode !== null || running.signalCode !== null) return
    const exited = new Promise((r) => running.once('exit', r))
    running.kill('SIGKILL')
    await exited
  }
  await start()
  return {
    url,
    start,
    stop,
    client: () => new IORedis(url, { maxRetriesPerRequest: 1 }),
    async close() {
      await stop()
      rmSync(dir, { recursive: true, force: true })
    },
  }
}
