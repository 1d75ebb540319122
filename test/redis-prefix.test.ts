// REDIS_KEY_PREFIX: two clusters of two instances on the same Redis, with different prefixes,
// each with a client on both of its instances in a document of the same name. Each cluster's
// instances pass updates to each other; neither cluster sees the other's updates, and the
// channels in Redis carry each cluster's prefix.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { randomBytes } from 'node:crypto'
import { Redis as IORedis } from 'ioredis'
import { startTestCluster, type TestCluster } from './helpers/cluster.ts'
import { closeClients, connect, DEADLINE_MS, until, within, type Client } from './helpers/clients.ts'
import { admin, mintToken } from './helpers/tokens.ts'

const DOC = 's1/doc/prefixed'
const run = randomBytes(3).toString('hex')
const PREFIXES = [`rp-${run}-a:`, `rp-${run}-b:`]

const clusters: TestCluster[] = []
test.after(async () => {
  closeClients()
  await Promise.all(clusters.map((c) => c.stop()))
})

const title = (client: Client) => client.doc.getMap('meta').get('title')

test('clusters with different prefixes share one Redis without seeing each other', async () => {
  // Started at once: each instance spends seconds loading, and the clusters share nothing but Redis.
  const started = await Promise.all(PREFIXES.map((prefix, i) => startTestCluster(`prefix_${i}`, 2, { env: { REDIS_KEY_PREFIX: prefix } })))
  for (const cluster of started) if (cluster) clusters.push(cluster)
  if (clusters.length < PREFIXES.length) return
  const token = await mintToken(admin('a1'))
  const clients = clusters.map((cluster) => cluster.instances.map((instance) => connect(instance.url, DOC, token)))
  for (const client of clients.flat()) await within(client.synced, DEADLINE_MS, 'sync')

  // Both instances of each cluster hold the document and listen on their prefix's channel.
  const redis = new IORedis(clusters[0].redisUrl)
  try {
    for (const prefix of PREFIXES) {
      const channel = `${prefix}${DOC}`
      await until(async () => ((await redis.pubsub('NUMSUB', channel)) as [string, number])[1] === 2, { what: `two subscribers on ${channel}` })
    }
    const replies = (await redis.pubsub('CHANNELS', `rp-${run}-*#reply:*`)) as string[]
    assert.is(replies.filter((c) => c.startsWith(`rp-${run}-a#reply:`)).length, 2, replies.join(' '))
    assert.is(replies.filter((c) => c.startsWith(`rp-${run}-b#reply:`)).length, 2, replies.join(' '))
  } finally {
    redis.disconnect()
  }

  const [[a1, a2], [b1, b2]] = clients
  a1.doc.getMap('meta').set('title', 'written in cluster A')
  await until(() => title(a2) === 'written in cluster A', { what: "cluster A's second instance to pass the update on" })
  b1.doc.getMap('meta').set('title', 'written in cluster B')
  await until(() => title(b2) === 'written in cluster B', { what: "cluster B's second instance to pass the update on" })
  a2.doc.getMap('meta').set('title', 'A again')
  await until(() => title(a1) === 'A again', { what: 'cluster A, the other way' })
  // Updates cross a cluster in milliseconds; give a leak between clusters ample time to show.
  await new Promise((r) => setTimeout(r, 500))
  for (const b of [b1, b2]) assert.is(title(b), 'written in cluster B', 'cluster B never sees cluster A')
  for (const a of [a1, a2]) assert.is(title(a), 'A again', 'cluster A never sees cluster B')
})

test.run()
