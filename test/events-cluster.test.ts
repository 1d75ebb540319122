// Exactly once across instances: three `homeroom serve` processes (shared PostgreSQL and Redis)
// consume one events stream; one is SIGKILLed while it holds entries it has not acknowledged.
// The others claim those entries, and every recipient's inbox holds every event, each item
// journaled exactly once; nothing is dead-lettered and nothing stays pending.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { randomBytes } from 'node:crypto'
import * as Y from 'yjs'
import { Redis as IORedis } from 'ioredis'
import { startTestCluster, type TestCluster } from './helpers/cluster.ts'
import { until } from './helpers/clients.ts'
import { api } from './helpers/api.ts'
import { sql } from './helpers/services.ts'
import { GROUP } from '../server/events/ingress.ts'
import { eventItemKey } from '../server/events/incoming.ts'

const SERVICE_TOKEN = 'service-token-0123456789abcdef'
const STREAM = `ev-cluster-${randomBytes(4).toString('hex')}`
const EVENTS = 120
const STUDENTS = ['u1', 'u2', 'u3', 'u4', 'u5']

let cluster: TestCluster | undefined
let redis: IORedis | undefined
test.after(async () => {
  await redis?.del(STREAM, `${STREAM}:dead`)
  redis?.disconnect()
  await cluster?.stop()
})

/** Map keys each journal entry of `doc` sets in its root map `items`, in journal order. */
async function itemWrites(dbUrl: string, doc: string): Promise<string[]> {
  const rows = await sql<{ update_bytes: Buffer }>(dbUrl, 'SELECT update_bytes FROM journal WHERE doc = $1 ORDER BY seq', [doc])
  const keys: string[] = []
  for (const row of rows) {
    for (const struct of Y.decodeUpdate(new Uint8Array(row.update_bytes)).structs) {
      if (struct instanceof Y.Item && (struct.parent as unknown) === 'items' && struct.parentSub) keys.push(struct.parentSub)
    }
  }
  return keys
}

/** Pending entries of each consumer of the group, by consumer name. */
async function pendingByConsumer(r: IORedis): Promise<Map<string, number>> {
  const consumers = (await r.xinfo('CONSUMERS', STREAM, GROUP)) as unknown[][]
  return new Map(consumers.map((c) => {
    const info = new Map<string, unknown>()
    for (let i = 0; i + 1 < c.length; i += 2) info.set(String(c[i]), c[i + 1])
    return [String(info.get('name')), Number(info.get('pending'))]
  }))
}

test('three instances, one killed mid-batch: each recipient gets each event exactly once', async () => {
  cluster = await startTestCluster('events', 3, { env: { SERVICE_TOKEN, EVENTS_STREAM: STREAM, EVENTS_CLAIM_AFTER_MS: '1000' } })
  if (!cluster) return
  redis = new IORedis(cluster.redisUrl)
  const roster = STUDENTS.map((id) => ({ id, name: id, role: 'student', classes: ['7a'] }))
  assert.is((await api(cluster.instances[0], 'PUT', '/api/v1/schools/s1/roster', { token: SERVICE_TOKEN, json: roster })).status, 200)
  // A consumer joins the group with the first entry it reads: warm-up events until all three have.
  const ids: string[] = []
  const add = (p: { xadd: IORedis['xadd'] }, id: string) => {
    ids.push(id)
    return p.xadd(STREAM, '*', 'id', id, 'school', 's1', 'type', 'bulk', 'targets', '{"classes":["7a"]}', 'title', `Event ${id}`)
  }
  await until(async () => {
    await add(redis!, `w-${ids.length}`)
    return ((await redis!.xinfo('CONSUMERS', STREAM, GROUP).catch(() => [])) as unknown[]).length === 3
  }, { what: 'three consumers in the group' })

  const pipeline = redis.pipeline()
  for (let i = 0; i < EVENTS; i++) add(pipeline as unknown as { xadd: IORedis['xadd'] }, `c-${i}`)
  await pipeline.exec()

  // The first instance is killed while it holds entries it has not acknowledged.
  const victim = 'events-1-'
  await until(async () => [...(await pendingByConsumer(redis!))].some(([name, n]) => name.startsWith(victim) && n > 0), { what: 'the first instance holding unacknowledged entries' })
  await cluster.kill(0)
  const held = [...(await pendingByConsumer(redis))].find(([name]) => name.startsWith(victim))![1]

  await until(
    async () => {
      const [pending] = (await redis!.xpending(STREAM, GROUP)) as [number]
      const group = ((await redis!.xinfo('GROUPS', STREAM)) as unknown[][])[0]
      return pending === 0 && Number(group[group.indexOf('lag') + 1]) === 0
    },
    { what: 'every entry acknowledged, the killed instance’s ones by the others' },
  )
  assert.ok(held > 0, 'the killed instance held entries')
  assert.is(await redis.xlen(`${STREAM}:dead`), 0, 'nothing dead-lettered')

  const expected = ids.map(eventItemKey).sort()
  for (const user of STUDENTS) {
    const writes = await itemWrites(cluster.db.url, `s1/inbox/${user}`)
    assert.equal([...writes].sort(), expected, `${user}: each event journaled exactly once`)
  }
  const [{ n }] = await sql<{ n: number }>(cluster.db.url, 'SELECT count(*)::int AS n FROM events WHERE recipients = $1', [STUDENTS.length])
  assert.is(n, ids.length, 'every event recorded with its recipients')
})

test.run()
