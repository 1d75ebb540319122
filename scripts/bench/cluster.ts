// What crossing instances costs. Two instances (pinned to their own CPUs with taskset when it
// exists), a private redis-server and a fresh PostgreSQL database. One writer types into a
// document on instance A; a reader on A and a reader on B time each keystroke's arrival, so both
// paths are measured on the very same updates in the same run. Prints, as medians over rounds:
// - same-instance and cross-instance latency (median, p99), the ratio cross/same and the
//   added milliseconds;
// - Redis bytes per keystroke: bytes instances published, and Redis' whole network traffic
//   (in + out, INFO stats) divided by the keystrokes;
// - for reference, the same typing on a third instance without Redis: what joining a cluster
//   costs an instance's own clients;
// - for comparison, two bare Hocuspocus servers (in this process) with the stock
//   @hocuspocus/extension-redis, which announces each change and sends it when asked.
// Run: `node scripts/bench/cluster.ts` (ROUNDS=5, KEYSTROKES=400 by default).
import { execFileSync } from 'node:child_process'
import { availableParallelism } from 'node:os'
import { Server } from '@hocuspocus/server'
import { Redis as StockRedis } from '@hocuspocus/extension-redis'
import { Redis as IORedis } from 'ioredis'
import * as Y from 'yjs'
import { startCluster, type Instance } from '../cluster.ts'
import { connect, type Client } from '../../test/helpers/clients.ts'
import { freshDatabase, startPrivateRedis } from '../../test/helpers/services.ts'
import { mintToken, student, TEST_SECRET } from '../../test/helpers/tokens.ts'

const ROUNDS = Number(process.env.ROUNDS ?? 5)
const KEYSTROKES = Number(process.env.KEYSTROKES ?? 400)

const quantile = (values: number[], q: number) => [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor(q * values.length))]
const median = (values: number[]) => quantile(values, 0.5)

function hasTaskset(): boolean {
  try {
    execFileSync('taskset', ['-p', String(process.pid)], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

/** Redis' own count of bytes it received and sent. */
async function redisTraffic(redis: IORedis): Promise<number> {
  const info = await redis.info('stats')
  const field = (name: string) => Number(new RegExp(`^${name}:(\\d+)`, 'm').exec(info)?.[1] ?? NaN)
  return field('total_net_input_bytes') + field('total_net_output_bytes')
}

async function publishedBytes(instance: Pick<Instance, 'http'>): Promise<number> {
  const text = await (await fetch(`${instance.http}/metrics`)).text()
  return Number(/^homeroom_redis_published_bytes_total (\d+)/m.exec(text)?.[1] ?? NaN)
}

/** Resolves on the next update a reader's document receives. */
const nextUpdate = (client: Client) => new Promise<number>((resolve) => client.doc.once('update', () => resolve(performance.now())))

interface Round {
  same: number[]
  cross: number[]
  solo: number[]
  publishedPerKey: number
  redisPerKey: number
}

/** Keystroke to arrival at a reader on the same instance, on an instance without Redis. */
async function soloTimes(instance: Instance, name: string): Promise<number[]> {
  const writer = connect(instance.url, name, await mintToken(student('writer')))
  const reader = connect(instance.url, name, await mintToken(student('near')))
  await Promise.all([writer.synced, reader.synced])
  const paragraph = new Y.XmlText()
  const settled = nextUpdate(reader)
  writer.doc.getXmlFragment('body').insert(0, [paragraph])
  await settled
  const times: number[] = []
  for (let k = 0; k < KEYSTROKES; k++) {
    const arrival = nextUpdate(reader)
    const started = performance.now()
    paragraph.insert(paragraph.length, 'abcdefghijklmnopqrstuvwxyz'[k % 26])
    times.push((await arrival) - started)
  }
  writer.destroy()
  reader.destroy()
  return times
}

async function round(instances: Pick<Instance, 'url' | 'http'>[], solo: Instance | undefined, redis: IORedis, name: string): Promise<Round> {
  const [a, b] = instances
  const writer = connect(a.url, name, await mintToken(student('writer')))
  const nearby = connect(a.url, name, await mintToken(student('near')))
  const remote = connect(b.url, name, await mintToken(student('far')))
  const clients = [writer, nearby, remote]
  await Promise.all(clients.map((c) => c.synced))
  const paragraph = new Y.XmlText()
  const settled = [nextUpdate(nearby), nextUpdate(remote)]
  writer.doc.getXmlFragment('body').insert(0, [paragraph])
  await Promise.all([writer.acknowledged(), ...settled])
  // INFO itself is traffic: measure one call's cost and subtract it.
  const i0 = await redisTraffic(redis)
  const i1 = await redisTraffic(redis)
  const infoCost = i1 - i0
  const p0 = solo ? await publishedBytes(a) : 0
  const same: number[] = []
  const cross: number[] = []
  for (let k = 0; k < KEYSTROKES; k++) {
    const arrivals = [nextUpdate(nearby), nextUpdate(remote)]
    const started = performance.now()
    paragraph.insert(paragraph.length, 'abcdefghijklmnopqrstuvwxyz'[k % 26])
    const [near, far] = await Promise.all(arrivals)
    same.push(near - started)
    cross.push(far - started)
  }
  await writer.acknowledged()
  const p1 = solo ? await publishedBytes(a) : 0
  const i2 = await redisTraffic(redis)
  for (const client of clients) client.destroy()
  return { same, cross, solo: solo ? await soloTimes(solo, `${name}-solo`) : [], publishedPerKey: (p1 - p0) / KEYSTROKES, redisPerKey: (i2 - i1 - infoCost) / KEYSTROKES }
}

const db = await freshDatabase('bench_cluster')
const privateRedis = await startPrivateRedis()
if (!db || !privateRedis) throw new Error('the cluster benchmark needs PostgreSQL and redis-server')
const cpus = availableParallelism()
const pin = hasTaskset() && cpus >= 2
const cluster = await startCluster({
  instances: 2,
  port: 0,
  env: { DATABASE_URL: db.url, REDIS_URL: privateRedis.url, JWT_SECRET: TEST_SECRET, LOG_LEVEL: 'info', MAX_MESSAGES_PER_SEC: '100000' },
  prefix: pin ? (i) => ['taskset', '-c', String(i % cpus)] : undefined,
  output: () => {},
})
const alone = await startCluster({
  instances: 1,
  port: 0,
  env: { DATABASE_URL: db.url, REDIS_URL: '', JWT_SECRET: TEST_SECRET, LOG_LEVEL: 'info', MAX_MESSAGES_PER_SEC: '100000' },
  prefix: pin ? () => ['taskset', '-c', '0'] : undefined,
  output: () => {},
})
const redis = new IORedis(privateRedis.url)
try {
  const rounds: Round[] = []
  for (let r = 0; r < ROUNDS; r++) rounds.push(await round(cluster.instances, alone.instances[0], redis, `s1/doc/bench-${r}`))
  const per = (pick: (r: Round) => number) => median(rounds.map(pick))
  const sameMedian = per((r) => median(r.same))
  const sameP99 = per((r) => quantile(r.same, 0.99))
  const crossMedian = per((r) => median(r.cross))
  const crossP99 = per((r) => quantile(r.cross, 0.99))
  const ms = (v: number) => `${v.toFixed(2)} ms`
  console.log(`cluster benchmark: 2 instances${pin ? ' pinned to CPUs 0 and 1' : ' (not pinned)'}, ${ROUNDS} rounds x ${KEYSTROKES} keystrokes, medians over rounds`)
  console.log(`same instance     median ${ms(sameMedian)}  p99 ${ms(sameP99)}`)
  console.log(`across instances  median ${ms(crossMedian)}  p99 ${ms(crossP99)}`)
  console.log(`ratio across/same median ${(crossMedian / sameMedian).toFixed(2)}x  p99 ${(crossP99 / sameP99).toFixed(2)}x`)
  console.log(`added by crossing median ${ms(crossMedian - sameMedian)}  p99 ${ms(crossP99 - sameP99)}`)
  const soloMedian = per((r) => median(r.solo))
  const soloP99 = per((r) => quantile(r.solo, 0.99))
  console.log(`one instance, no Redis  median ${ms(soloMedian)}  p99 ${ms(soloP99)} (same instance with Redis: ${(sameMedian / soloMedian).toFixed(2)}x median)`)
  console.log(`Redis bytes per keystroke: published ${per((r) => r.publishedPerKey).toFixed(0)} B, Redis network in+out ${per((r) => r.redisPerKey).toFixed(0)} B`)
  // The stock extension on two bare servers, same keystrokes, same Redis.
  const { port, hostname } = new URL(privateRedis.url)
  const stock = await Promise.all(
    ['stock-a', 'stock-b'].map(async (identifier) => {
      const server = new Server({ port: 0, address: '127.0.0.1', quiet: true, stopOnSignals: false, extensions: [new StockRedis({ host: hostname, port: Number(port), identifier })] })
      await server.listen()
      return { server, url: `ws://127.0.0.1:${server.address.port}`, http: `http://127.0.0.1:${server.address.port}` }
    }),
  )
  const stockRounds: Round[] = []
  for (let r = 0; r < ROUNDS; r++) stockRounds.push(await round(stock, undefined, redis, `s1/doc/stock-${r}`))
  await Promise.all(stock.map((s) => s.server.destroy()))
  const sp = (pick: (r: Round) => number) => median(stockRounds.map(pick))
  console.log(
    `stock extension-redis (bare servers in one process): same ${ms(sp((r) => median(r.same)))}, across ${ms(sp((r) => median(r.cross)))} median;` +
      ` ratio ${(sp((r) => median(r.cross)) / sp((r) => median(r.same))).toFixed(2)}x median, ${(sp((r) => quantile(r.cross, 0.99)) / sp((r) => quantile(r.same, 0.99))).toFixed(2)}x p99;` +
      ` Redis network in+out ${sp((r) => r.redisPerKey).toFixed(0)} B per keystroke`,
  )
} finally {
  redis.disconnect()
  await cluster.stop()
  await alone.stop()
  await privateRedis.stop()
  await db.drop()
}
