// Events in (issue 16): rounds of PARALLEL entries added at once to the events stream, each for
// the RECIPIENTS students of one class (half of them connected to their inbox, half not), against
// a baseline of writing the same items with `deliver` and waiting for them to be journaled, the
// same number at once. Prints events/s and the p50/p99 latency of one entry from its XADD until
// every recipient's item is journaled and the entry acknowledged (baseline: until journaled).
// Run: `npx node scripts/bench/ingress.ts` (ROUNDS=10, PARALLEL=20, RECIPIENTS=30; needs Redis).
import { randomBytes } from 'node:crypto'
import { Redis } from 'ioredis'
import { startServer } from '../../test/helpers/server.ts'
import { connect } from '../../test/helpers/clients.ts'
import { mintToken, student } from '../../test/helpers/tokens.ts'
import { api } from '../../test/helpers/api.ts'
import { SHARED_REDIS_URL } from '../../test/helpers/services.ts'
import { GROUP } from '../../server/events/ingress.ts'
import { deliver } from '../../server/inbox.ts'
import { inboxName } from '../../docs-model/surfaces/inbox/surface.ts'
import { median, quantile } from './servers.ts'

const ROUNDS = Number(process.env.ROUNDS ?? 10)
const PARALLEL = Number(process.env.PARALLEL ?? 20)
const RECIPIENTS = Number(process.env.RECIPIENTS ?? 30)
const SERVICE_TOKEN = 'bench-service-token-0123456789'
const STREAM = `bench-ingress-${randomBytes(4).toString('hex')}`

const server = await startServer({ SERVICE_TOKEN, REDIS_URL: SHARED_REDIS_URL, EVENTS_STREAM: STREAM, REDIS_KEY_PREFIX: `${STREAM}:`, MAX_MESSAGES_PER_SEC: '100000' })
const redis = new Redis(SHARED_REDIS_URL)
const students = Array.from({ length: RECIPIENTS }, (_, i) => `u${i}`)
await api(server, 'PUT', '/api/v1/schools/s1/roster', { token: SERVICE_TOKEN, json: students.map((id) => ({ id, name: id, role: 'student', classes: ['7a'] })) })
const clients = await Promise.all(
  students.slice(0, RECIPIENTS / 2).map(async (id) => {
    const client = connect(server.url, `s1/inbox/${id}`, await mintToken(student(id)))
    await client.synced
    return client
  }),
)

/** Resolves when the entry is acknowledged by the group: read (at or before last-delivered-id) and no longer pending. */
async function acknowledged(entries: string[]): Promise<Map<string, number>> {
  const done = new Map<string, number>()
  const order = (id: string) => id.split('-').map(BigInt) as [bigint, bigint]
  const atOrBefore = (a: string, b: string) => {
    const [x, y] = [order(a), order(b)]
    return x[0] < y[0] || (x[0] === y[0] && x[1] <= y[1])
  }
  while (done.size < entries.length) {
    const group = ((await redis.xinfo('GROUPS', STREAM)) as unknown[][]).map((g) => Object.fromEntries(g.flatMap((v, i) => (i % 2 ? [] : [[v, g[i + 1]]])))).find((g) => g.name === GROUP)
    const pending = new Set(((await redis.xpending(STREAM, GROUP, '-', '+', 10_000)) as Array<[string]>).map(([id]) => id))
    const now = performance.now()
    for (const entry of entries) if (!done.has(entry) && group && atOrBefore(entry, String(group['last-delivered-id'])) && !pending.has(entry)) done.set(entry, now)
    await new Promise((r) => setTimeout(r, 2))
  }
  return done
}

async function streamRound(round: number): Promise<number[]> {
  const started = performance.now()
  const pipeline = redis.pipeline()
  for (let i = 0; i < PARALLEL; i++) pipeline.xadd(STREAM, '*', 'id', `r${round}-${i}`, 'school', 's1', 'type', 'bench', 'targets', '{"classes":["7a"]}', 'title', `Event ${round}/${i}`)
  const entries = (await pipeline.exec())!.map(([, id]) => String(id))
  const done = await acknowledged(entries)
  return entries.map((e) => done.get(e)! - started)
}

async function directRound(round: number): Promise<number[]> {
  const started = performance.now()
  return Promise.all(
    Array.from({ length: PARALLEL }, async (_, i) => {
      const item = { type: 'bench', title: `Direct ${round}/${i}`, body: '', priority: 'normal' as const, at: Date.now() }
      await deliver(server.app, 's1', students, `direct:${round}-${i}`, item)
      await Promise.all(students.map((user) => server.app.journaled(inboxName('s1', user))))
      return performance.now() - started
    }),
  )
}

async function measure(label: string, round: (n: number) => Promise<number[]>): Promise<void> {
  await round(-1) // warm-up
  const latencies: number[] = []
  const started = performance.now()
  for (let r = 0; r < ROUNDS; r++) latencies.push(...(await round(r)))
  const seconds = (performance.now() - started) / 1000
  console.log(`${label}: ${(latencies.length / seconds).toFixed(1)} events/s, latency p50 ${median(latencies).toFixed(1)} ms, p99 ${quantile(latencies, 0.99).toFixed(1)} ms, max ${Math.max(...latencies).toFixed(1)} ms`)
}

console.log(`${ROUNDS} rounds of ${PARALLEL} events at once, ${RECIPIENTS} recipients each (${clients.length} connected)`)
await measure('direct deliver (baseline)', directRound)
await measure('events stream', streamRound)
for (const client of clients) client.destroy()
await redis.del(STREAM, `${STREAM}:dead`)
redis.disconnect()
await server.stop()
process.exit(0)
