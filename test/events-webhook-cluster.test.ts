// The events webhook's outbox across processes on one PostgreSQL: an instance is SIGKILLed while
// the receiver holds its attempt unanswered; an instance started afterwards on the same store
// attempts the delivery again once the dead one's claim has lapsed (twice the webhook's timeout),
// and the receiver accepts it exactly once, under the event's id, signed, with the same body.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { rmSync } from 'node:fs'
import { startTestCluster, type TestCluster } from './helpers/cluster.ts'
import { startServerProcess, tempDir, type ServerProcess } from './helpers/server.ts'
import { until } from './helpers/clients.ts'
import { api } from './helpers/api.ts'
import { claims, mintToken } from './helpers/tokens.ts'
import { signature } from '../server/webhook.ts'

const SECRET = 'cluster-webhook-secret'
const attempts: Array<{ headers: IncomingHttpHeaders; raw: string }> = []
const held: ServerResponse[] = []
/** Holds the first attempt unanswered (its sender is then killed); accepts every later one. */
const receiver = createServer((req, res) => {
  const chunks: Buffer[] = []
  req.on('data', (c: Buffer) => chunks.push(c))
  req.on('end', () => {
    attempts.push({ headers: req.headers, raw: Buffer.concat(chunks).toString('utf8') })
    if (attempts.length === 1) held.push(res)
    else res.writeHead(204).end()
  })
})

let cluster: TestCluster | undefined
let successor: ServerProcess | undefined
const successorDir = tempDir()
test.after(async () => {
  successor?.child.kill('SIGTERM')
  await successor?.exited
  await cluster?.stop()
  for (const res of held) res.destroy()
  await new Promise<void>((r) => receiver.close(() => r()))
  rmSync(successorDir, { recursive: true, force: true })
})

test('an instance killed mid-attempt: another delivers the event once its claim lapsed', async () => {
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r))
  const env = { EVENTS_WEBHOOK_URL: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks`, EVENTS_WEBHOOK_SECRET: SECRET, EVENTS_WEBHOOK_RETRY_MS: '50' }
  cluster = await startTestCluster('webhook', 1, { env })
  if (!cluster) return
  const director = await mintToken(claims.director('d1', { schools: ['s1', 's2'] }))
  assert.is((await api(cluster.instances[0], 'PUT', '/api/v1/me/school', { token: director, json: { school: 's2' } })).status, 200)
  await until(() => held.length === 1, { what: 'the first attempt, held by the receiver' })
  await cluster.kill(0)

  const started = Date.now()
  successor = await startServerProcess(successorDir, { DATABASE_URL: cluster.db.url, INSTANCE_ID: 'webhook-successor', ...env })
  await until(() => attempts.length >= 2, { timeout: 30_000, what: 'the successor’s attempt' })
  const waited = Date.now() - started
  const [first, second] = attempts
  const id = String(first.headers['x-homeroom-delivery'])
  assert.match(id, /^school\.context_switched:d1:\d+::s2$/)
  assert.is(second.headers['x-homeroom-delivery'], id, 'the same delivery id')
  assert.is(second.raw, first.raw, 'the same body')
  assert.is(second.headers['x-homeroom-signature'], signature(SECRET, String(second.headers['x-homeroom-timestamp']), second.raw))
  assert.equal(JSON.parse(second.raw).data, { user: 'd1', role: 'director', from: null, to: 's2' })
  // Accepted once: nothing more comes, and nothing waits in the outbox.
  const waiting = async () => Number((await (await fetch(`${successor!.http}/metrics`)).text()).match(/^homeroom_events_webhook_outbox_waiting (\d+)/m)?.[1])
  await until(async () => (await waiting()) === 0, { what: 'the outbox empty' })
  assert.is(attempts.length, 2)
  console.log(`the successor delivered ${waited} ms after it was started (the claim lapses 10 s after the held attempt began)`)
})

test.run()
