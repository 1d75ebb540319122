// The events webhook's durable outbox (server/events/outbox.ts), on SQLite and PostgreSQL: a
// receiver that is down while events are published, and stays down across a restart of the
// server, gets each event exactly once when it recovers, under its stable id and with a signature
// that checks; a fact published again after delivery is not sent again; a refusal (4xx) is given
// up at once and a receiver that never recovers is attempted EVENTS_WEBHOOK_ATTEMPTS times, no more.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { createServer, type IncomingHttpHeaders } from 'node:http'
import type { AddressInfo } from 'node:net'
import { startServer, tempDir, type TestServer } from './helpers/server.ts'
import { until } from './helpers/clients.ts'
import { freshDatabase, type TestDatabase } from './helpers/services.ts'
import { signature } from '../server/webhook.ts'
import type { OutboundEvent } from '../server/events/outbound.ts'

const SECRET = 'outbox-webhook-secret'

interface Attempt {
  headers: IncomingHttpHeaders
  raw: string
  body: any
  answered: number
}
/** A webhook receiver answering `status` (settable: 503 while "down"), recording every attempt. */
async function receiver(status: number) {
  const state = { status, attempts: [] as Attempt[] }
  const http = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8')
      state.attempts.push({ headers: req.headers, raw, body: JSON.parse(raw), answered: state.status })
      res.writeHead(state.status).end()
    })
  })
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r))
  const url = `http://127.0.0.1:${(http.address() as AddressInfo).port}/hooks`
  return Object.assign(state, {
    url,
    accepted: () => state.attempts.filter((a) => a.answered < 300),
    of: (id: string) => state.attempts.filter((a) => a.body.delivery === id),
    close: () => new Promise<void>((r) => http.close(() => r())),
  })
}

const event = (n: number): OutboundEvent => ({ type: 'exam.closed', id: `exam.closed:s1/exam/outbox-${n}`, school: 's1', at: 1_700_000_000_000 + n, data: { exam: `s1/exam/outbox-${n}`, scores: { u1: n } } })
const waiting = async (server: TestServer) => server.app.eventStore.webhooksWaiting()

for (const storeKind of ['sqlite', 'postgres'] as const) {
  test(`${storeKind}: a receiver down across a restart gets each event once it recovers, signed, under its id`, async () => {
    let db: TestDatabase | undefined
    if (storeKind === 'postgres') {
      db = await freshDatabase('outbox')
      if (!db) return
    }
    const hook = await receiver(503)
    const dataDir = tempDir()
    const env = { EVENTS_WEBHOOK_URL: hook.url, EVENTS_WEBHOOK_SECRET: SECRET, EVENTS_WEBHOOK_RETRY_MS: '20', EVENTS_WEBHOOK_ATTEMPTS: '50', ...(db ? { DATABASE_URL: db.url } : {}) }
    let server = await startServer(env, { dataDir })
    try {
      const events = [1, 2, 3].map(event)
      for (const e of events) server.app.eventsOut.publish(e)
      // Each refused and retried at least once while this server runs.
      await until(() => events.every((e) => hook.of(e.id).length >= 2), { what: 'every event attempted twice while the receiver is down' })
      await server.stop()
      hook.status = 204
      server = await startServer(env, { dataDir })
      await until(() => hook.accepted().length >= events.length, { what: 'every event accepted after the restart' })
      await until(async () => (await waiting(server)) === 0, { what: 'nothing left waiting' })
      for (const e of events) {
        const accepted = hook.of(e.id).filter((a) => a.answered < 300)
        assert.is(accepted.length, 1, `${e.id}: accepted once`)
        const [{ headers, raw, body }] = accepted
        assert.is(headers['x-homeroom-delivery'], e.id)
        assert.is(headers['x-homeroom-event'], 'exam.closed')
        assert.is(headers['x-homeroom-signature'], signature(SECRET, String(headers['x-homeroom-timestamp']), raw), 'the signature checks')
        assert.is.not(headers['x-homeroom-signature'], signature('another-secret', String(headers['x-homeroom-timestamp']), raw))
        assert.equal(body, { event: 'exam.closed', delivery: e.id, school: 's1', at: e.at, data: e.data })
        // Every attempt sent the same bytes.
        assert.equal([...new Set(hook.of(e.id).map((a) => a.raw))], [raw])
      }
      // Published again (re-derived after delivery): not sent again.
      const before = hook.attempts.length
      server.app.eventsOut.publish(events[0])
      server.app.eventsOut.publish(event(4))
      await until(() => hook.accepted().length === 4, { what: 'the fourth event' })
      await until(async () => (await waiting(server)) === 0, { what: 'nothing waiting' })
      assert.is(hook.attempts.length, before + 1, 'only the new event was sent')
      assert.is(hook.of(events[0].id).filter((a) => a.answered < 300).length, 1)
    } finally {
      await server.stop()
      await hook.close()
      await db?.drop()
    }
  })
}

test('a refusal is given up at once; a receiver that never recovers gets EVENTS_WEBHOOK_ATTEMPTS attempts', async () => {
  const refusing = await receiver(400)
  const down = await receiver(500)
  const servers = await Promise.all([refusing, down].map((r) => startServer({ EVENTS_WEBHOOK_URL: r.url, EVENTS_WEBHOOK_RETRY_MS: '10', EVENTS_WEBHOOK_ATTEMPTS: '3' })))
  try {
    for (const server of servers) server.app.eventsOut.publish(event(9))
    await until(() => refusing.of(event(9).id).length >= 1 && down.of(event(9).id).length >= 3, { what: 'the attempts' })
    for (const server of servers) await until(async () => (await waiting(server)) === 0, { what: 'the delivery settled (given up)' })
    assert.is(refusing.of(event(9).id).length, 1, '4xx: not retried')
    assert.is(down.of(event(9).id).length, 3, '5xx: three attempts in all')
    const metrics = await servers[1].app.metrics.registry.getSingleMetricAsString('homeroom_events_webhook_attempts_total')
    assert.match(metrics, /outcome="retry"\} 2/)
    assert.match(metrics, /outcome="failed"\} 1/)
  } finally {
    await Promise.all(servers.map((s) => s.stop()))
    await Promise.all([refusing, down].map((r) => r.close()))
  }
})

test.run()
