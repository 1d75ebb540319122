// docs/integration.md's worked example, run as written against a real server and a real Redis:
// its shell blocks (curl and redis-cli, with the host, the key prefix and the port swapped for
// the test's) put the roster, add the fee event with `redis-cli XADD` (twice: one item), declare
// an event type, ask for delivery receipts and read the outbound stream with a consumer group of
// the back end's own; its Node webhook receiver runs as a process of its own, accepts Homeroom's
// signed deliveries and refuses a forged one. The batch over HTTP answers what the page shows.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { startServer, tempDir, useServer, type TestServer } from './helpers/server.ts'
import { until } from './helpers/clients.ts'
import { api } from './helpers/api.ts'
import { claims, mintToken } from './helpers/tokens.ts'
import { freePort, redisReachable, SHARED_REDIS_URL } from './helpers/services.ts'

const run = promisify(execFile)
const SERVICE_TOKEN = 'back-end-token-0123456789'
const SECRET = 'webhook-secret'
const PREFIX = `docint-${randomBytes(4).toString('hex')}:`
const page = readFileSync(new URL('../docs/integration.md', import.meta.url), 'utf8')

/** The page's fenced blocks of one language. */
const blocks = (lang: string): string[] => [...page.matchAll(new RegExp('```' + lang + '\\n([\\s\\S]*?)```', 'g'))].map((m) => m[1])
/** The one shell block containing `marker`. */
function shell(marker: string): string {
  const found = blocks('sh').filter((b) => b.includes(marker))
  assert.is(found.length, 1, `one sh block with ${marker}`)
  return found[0]
}

let receiverPort: number
let receiver: ChildProcess
const receiverLog: string[] = []
test.before(async () => {
  receiverPort = await freePort()
  const [source] = blocks('js').filter((b) => b.includes('// receiver.mjs'))
  assert.ok(source.includes(".listen(9000, '127.0.0.1')"), 'the receiver listens on 9000')
  const file = join(tempDir(), 'receiver.mjs')
  writeFileSync(file, source.replace(".listen(9000, '127.0.0.1')", `.listen(${receiverPort}, '127.0.0.1', () => console.log('listening'))`))
  receiver = spawn(process.execPath, [file], { env: { ...process.env, EVENTS_WEBHOOK_SECRET: SECRET }, stdio: ['ignore', 'pipe', 'inherit'] })
  receiver.stdout!.on('data', (chunk: Buffer) => receiverLog.push(...chunk.toString().split('\n').filter(Boolean)))
  await until(() => receiverLog.includes('listening'), { what: 'the receiver listening' })
})
const server = useServer(() => ({
  SERVICE_TOKEN,
  REDIS_URL: SHARED_REDIS_URL,
  REDIS_KEY_PREFIX: PREFIX,
  EVENTS_WEBHOOK_URL: `http://127.0.0.1:${receiverPort}/homeroom`,
  EVENTS_WEBHOOK_SECRET: SECRET,
}))
let reachable = false
test.before(async () => {
  reachable = await redisReachable()
})
test.after(async () => {
  receiver.kill()
  // The streams and the outbound dedup keys: everything under the test's prefix.
  if (reachable) await run('bash', ['-c', `redis-cli -u ${SHARED_REDIS_URL} --scan --pattern '${PREFIX}*' | xargs -r redis-cli -u ${SHARED_REDIS_URL} DEL`])
})

/** Runs shell text from the page as a back end would, against `target`. */
async function sh(text: string, target: TestServer = server): Promise<string> {
  const script = text.replaceAll('localhost:8400', `127.0.0.1:${target.port}`).replaceAll('homeroom:', PREFIX).replaceAll('redis-cli ', `redis-cli -u ${SHARED_REDIS_URL} `)
  const { stdout } = await run('bash', ['-euo', 'pipefail', '-c', script], { env: { ...process.env, SERVICE_TOKEN } })
  return stdout
}
const inbox = async (user: string) => (await api(server, 'GET', '/api/v1/me/inbox?school=s1', { token: await mintToken(claims.parent(user, { schools: ['s1'], children: ['u1'] })) })).json

test('in: the roster, then the fee event with redis-cli XADD, twice: one item in the parent’s inbox', async () => {
  if (!reachable) return
  const roster = JSON.parse(await sh(shell('/api/v1/schools/s1/roster')))
  assert.equal(roster, { school: 's1', members: 2 })
  const xadd = shell("XADD homeroom:events '*' \\\n  id fee-2026-0042")
  await sh(xadd)
  await until(async () => (await inbox('p1')).items.some((i: { id: string }) => i.id === 'event:fee-2026-0042'), { what: 'the fee in p1’s inbox' })
  await sh(xadd)
  await until(async () => Number(await sh(`redis-cli XLEN homeroom:events`)) === 2, { what: 'both entries added' })
  await until(async () => (await sh('redis-cli XPENDING homeroom:events homeroom')).trim().startsWith('0'), { what: 'both acknowledged' })
  const items = (await inbox('p1')).items.filter((i: { id: string }) => i.id === 'event:fee-2026-0042')
  assert.is(items.length, 1)
  assert.equal({ title: items[0].title, priority: items[0].priority, actionUrl: items[0].actionUrl, data: items[0].data }, { title: 'School trip fee: 25 EUR', priority: 'high', actionUrl: '/fees/2026-0042', data: { amount: 25, currency: 'EUR' } })
})

test('event types: the declared wording fills in; the receipts answer as shown', async () => {
  if (!reachable) return
  await sh(shell('event-types/fee.assigned'))
  await until(async () => (await inbox('p1')).items.some((i: { id: string }) => i.id === 'event:fee-43'), { what: 'fee-43 in p1’s inbox' })
  const item = (await inbox('p1')).items.find((i: { id: string }) => i.id === 'event:fee-43')
  assert.equal([item.title, item.body, item.actionUrl], ['Fee: 25 EUR', 'Due 1 Oct', '/fees/43'])
  const receipts = shell('/api/v1/notifications/event:fee-43').split('\n')
  // The inbox observer records receipts in bursts, a moment after the item lands in the inbox.
  let answer: Record<string, unknown> = {}
  await until(async () => !('error' in (answer = JSON.parse(await sh(receipts[0])))), { what: `receipts of event:fee-43 (${JSON.stringify(answer)})` })
  assert.equal(Object.keys(answer).sort(), ['delivered', 'id', 'pending', 'read', 'recipients', 'unread'])
  assert.is(answer.id, 'event:fee-43')
  const statistics = JSON.parse(await sh(receipts.find((l) => l.includes('statistics'))!))
  assert.ok(statistics.byType['fee.assigned'], 'statistics by type')
})

test('out: the receiver accepts the signed deliveries and refuses a forged one; the stream holds the same facts', async () => {
  if (!reachable) return
  const consumer = shell('XGROUP CREATE homeroom:events-out').split('\n')
  await sh(consumer[0]) // the back end's group, before anything is published
  server.app.eventsOut.publish({ type: 'exam.closed', id: 'exam.closed:s1/exam/e1', school: 's1', data: { exam: 's1/exam/e1', scores: { u1: 5 } } })
  server.app.eventsOut.publish({ type: 'emergency.escalated', id: 'emergency.escalated:s1/emergency/x:1', school: 's1', data: { emergency: 's1/emergency/x', escalation: 1, unacknowledged: ['p1'] } })
  await until(() => receiverLog.some((l) => l.startsWith('s1: exam s1/exam/e1 closed')) && receiverLog.some((l) => l.startsWith('s1: SMS to')), { what: 'the receiver handled both' })
  const read = await sh(consumer.find((l) => l.includes('XREADGROUP'))!)
  assert.match(read, 'exam.closed:s1/exam/e1')
  assert.match(read, 'emergency.escalated:s1/emergency/x:1')
  const body = JSON.stringify({ event: 'exam.closed', delivery: 'forged', school: 's1', at: Date.now(), data: {} })
  const forged = await fetch(`http://127.0.0.1:${receiverPort}/homeroom`, { method: 'POST', body, headers: { 'X-Homeroom-Timestamp': String(Date.now()), 'X-Homeroom-Signature': 'sha256=' + '0'.repeat(64) } })
  assert.is(forged.status, 401)
})

test('without Redis: the same event in a batch answers as the page shows', async () => {
  const plain = await startServer({ SERVICE_TOKEN })
  try {
    await sh(shell('/api/v1/schools/s1/roster'), plain)
    const block = shell('curl -X POST localhost:8400/api/v1/events')
    const shown = block.split('\n').find((l) => l.startsWith('# 202 '))!.slice('# 202 '.length)
    const answer = await sh(block, plain)
    assert.equal(JSON.parse(answer), JSON.parse(shown))
  } finally {
    await plain.stop()
  }
})

test.run()
