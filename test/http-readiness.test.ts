// Readiness against real services: a configured PostgreSQL database that does not exist, and a
// Redis that does not answer, make /readyz (and /health) answer 503 naming the failing part.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { startServer } from './helpers/server.ts'
import { api } from './helpers/api.ts'
import { POSTGRES_ADMIN_URL, freshDatabase } from './helpers/services.ts'

test('/readyz answers 503 when DATABASE_URL names a database that does not exist; /health reports it; /livez stays 200', async () => {
  const url = new URL(POSTGRES_ADMIN_URL)
  url.pathname = `/homeroom_missing_${process.pid}_${Date.now()}`
  const server = await startServer({ DATABASE_URL: url.toString() })
  try {
    const ready = await api(server, 'GET', '/readyz')
    assert.is(ready.status, 503)
    assert.is(ready.json.status, 'unavailable')
    assert.is(ready.json.checks.store.ok, false)
    assert.is(ready.json.checks.store.kind, 'postgres')
    assert.match(ready.json.checks.store.error, /does not exist/)
    const health = await api(server, 'GET', '/health')
    assert.is(health.status, 503)
    assert.is(health.json.status, 'unavailable')
    assert.is(health.json.checks.store.ok, false)
    assert.is((await api(server, 'GET', '/livez')).status, 200)
  } finally {
    await server.stop()
  }
})

test('/readyz answers 200 on a working PostgreSQL, and 503 naming Redis when REDIS_URL does not answer', async () => {
  const db = await freshDatabase('http_ready')
  if (!db) return
  const server = await startServer({ DATABASE_URL: db.url, REDIS_URL: 'redis://127.0.0.1:1' })
  try {
    const ready = await api(server, 'GET', '/readyz')
    assert.is(ready.status, 503, JSON.stringify(ready.json))
    assert.is(ready.json.checks.store.ok, true)
    assert.is(ready.json.checks.redis.ok, false)
    assert.is((await api(server, 'GET', '/health')).json.status, 'unavailable')
  } finally {
    await server.stop()
    await db.drop()
  }
  const healthy = await freshDatabase('http_ready_ok')
  if (!healthy) return
  const ok = await startServer({ DATABASE_URL: healthy.url })
  try {
    const ready = await api(ok, 'GET', '/readyz')
    assert.is(ready.status, 200, JSON.stringify(ready.json))
    assert.is(ready.json.checks.store.kind, 'postgres')
    assert.is((await api(ok, 'GET', '/health')).json.status, 'ok')
  } finally {
    await ok.stop()
    await healthy.drop()
  }
})

test.run()
