// Health, metrics, statistics and the error shape of the HTTP API.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { startServer, useServer } from './helpers/server.ts'
import { closeClients, connect, DEADLINE_MS, within } from './helpers/clients.ts'
import { admin, mintToken, student, teacher } from './helpers/tokens.ts'

const server = useServer({ SERVICE_TOKEN: 'svc-0123456789abcdef' })
test.after.each(closeClients)

const get = (path: string, token?: string) => fetch(`${server.http}${path}`, { headers: token ? { Authorization: `Bearer ${token}` } : {} })

test('GET /health answers ok', async () => {
  const res = await get('/health')
  assert.is(res.status, 200)
  assert.is((await res.json()).status, 'ok')
})

test('GET /metrics serves Prometheus text with the documented series', async () => {
  const client = connect(server.url, 's1/doc/m', await mintToken(teacher()))
  await within(client.synced, DEADLINE_MS, 'sync')
  client.doc.getMap('meta').set('title', 'x')
  await client.acknowledged()
  const refused = connect(server.url, 's1/nothing/1', await mintToken(teacher()))
  await within(refused.refused, DEADLINE_MS, 'refusal')
  const text = await (await get('/metrics')).text()
  for (const series of [
    'homeroom_connections 1',
    'homeroom_documents_loaded 1',
    'homeroom_messages_total{kind=',
    'homeroom_refusals_total{reason="unknown-surface"} 1',
    'homeroom_journal_append_seconds_count 1',
    'homeroom_snapshot_bytes_bucket',
    'nodejs_eventloop_lag_seconds',
  ]) {
    assert.ok(text.includes(series), `metrics include ${series}`)
  }
})

test('GET /api/v1/stats is for admin and service only', async () => {
  assert.is((await get('/api/v1/stats')).status, 401)
  const forbidden = await get('/api/v1/stats', await mintToken(student()))
  assert.is(forbidden.status, 403)
  assert.equal(Object.keys((await forbidden.json()).error), ['code', 'message'])
  const stats = await (await get('/api/v1/stats', await mintToken(admin()))).json()
  for (const key of ['connections', 'documents', 'rooms', 'messagesPerSec']) assert.ok(key in stats, key)
  assert.is((await get('/api/v1/stats', 'svc-0123456789abcdef')).status, 200)
})

test('unknown routes answer 404 in the error shape', async () => {
  const res = await get('/api/v1/nothing-here')
  assert.is(res.status, 404)
  assert.is((await res.json()).error.code, 'not-found')
})

test('a caller over the HTTP request rate gets 429 in the error shape; others are still served', async () => {
  const limited = await startServer({ MAX_HTTP_REQUESTS_PER_SEC: '2' })
  try {
    const token = await mintToken(admin())
    const statuses = []
    for (let i = 0; i < 8; i++) {
      statuses.push((await fetch(`${limited.http}/api/v1/stats`, { headers: { Authorization: `Bearer ${token}` } })).status)
    }
    assert.ok(statuses.includes(429), statuses.join(','))
    const other = await fetch(`${limited.http}/api/v1/stats`, { headers: { Authorization: `Bearer ${await mintToken(admin('a2'))}` } })
    assert.is(other.status, 200)
  } finally {
    await limited.stop()
  }
})

test('a malformed percent-escape in the path answers 400 instead of hanging', async () => {
  const res = await get('/api/v1/docs/%E0%A4%A')
  assert.is(res.status, 400)
  assert.is((await res.json()).error.code, 'bad-request')
})

test.run()
