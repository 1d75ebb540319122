// HTTP rate limits held across instances through Redis: one user's budget is shared by two
// instances, each user behind one address has a budget of its own, and invalid tokens that change
// on every request count against the address, on both instances.
import { randomBytes } from 'node:crypto'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { startTestCluster, type TestCluster } from './helpers/cluster.ts'
import { admin, mintToken } from './helpers/tokens.ts'

// 2 per second: 4 per two-second window. The window opens with a key's first request, so a quick
// burst lands in one window.
const RATE = 2
const WINDOW_MAX = RATE * 2
let cluster: TestCluster | undefined
test.before(async () => {
  cluster = await startTestCluster('http_rate', 2, { env: { MAX_HTTP_REQUESTS_PER_SEC: String(RATE), REDIS_KEY_PREFIX: `httprate-${randomBytes(4).toString('hex')}:` } })
})
test.after(async () => {
  await cluster?.stop()
})

const statsFrom = async (i: number, authorization: string): Promise<number> => {
  const res = await fetch(`${cluster!.instances[i].http}/api/v1/stats`, { headers: { Authorization: authorization } })
  await res.arrayBuffer()
  return res.status
}

test('one user has one budget across instances; another user behind the same address has their own', async () => {
  if (!cluster) return
  const a1 = `Bearer ${await mintToken(admin('a1'))}`
  const statuses: number[] = []
  for (let i = 0; i < 4 * WINDOW_MAX; i++) statuses.push(await statsFrom(i % 2, a1))
  const served = statuses.filter((s) => s === 200).length
  // Instances counting alone would each serve WINDOW_MAX.
  assert.is(served, WINDOW_MAX, statuses.join(','))
  assert.ok(statuses.slice(WINDOW_MAX).every((s) => s === 429), statuses.join(','))
  const a2 = `Bearer ${await mintToken(admin('a2'))}`
  assert.is(await statsFrom(0, a2), 200)
  assert.is(await statsFrom(1, a2), 200)
})

test('a different invalid Authorization header on every request does not escape the address budget', async () => {
  if (!cluster) return
  const statuses: number[] = []
  for (let i = 0; i < 4 * WINDOW_MAX; i++) statuses.push(await statsFrom(i % 2, `Bearer not-a-token-${i}-${randomBytes(6).toString('hex')}`))
  assert.is(statuses.filter((s) => s === 401).length, WINDOW_MAX, statuses.join(','))
  assert.ok(statuses.slice(WINDOW_MAX).every((s) => s === 429), statuses.join(','))
})

test.run()
