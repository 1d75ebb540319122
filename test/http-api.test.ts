// The HTTP layer on Fastify against real servers: CORS, 405 and HEAD, the OpenAPI document,
// rate limits (probes exempt, Retry-After, keys by verified user or address), trusted proxies,
// playground tokens for loopback callers only, and the access log.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import pino from 'pino'
import { Validator } from '@seriousme/openapi-schema-validator'
import { startServer, useServer, type TestServer } from './helpers/server.ts'
import { api, assertError } from './helpers/api.ts'
import { admin, mintToken, student, teacher } from './helpers/tokens.ts'

const logLines: Record<string, unknown>[] = []
const log = pino({ level: 'info' }, { write: (line: string) => void logLines.push(JSON.parse(line)) })
const server = useServer({ CORS_ORIGINS: 'https://app.example, https://other.example', SERVICE_TOKEN: 'svc-0123456789abcdef' }, { log })

test('a CORS preflight from an allowed origin is answered with the CORS headers', async () => {
  const res = await fetch(`${server.http}/api/v1/schools/s1/roster`, {
    method: 'OPTIONS',
    headers: { Origin: 'https://app.example', 'Access-Control-Request-Method': 'PUT', 'Access-Control-Request-Headers': 'authorization, content-type' },
  })
  assert.is(res.status, 204)
  assert.is(res.headers.get('access-control-allow-origin'), 'https://app.example')
  assert.match(res.headers.get('access-control-allow-methods') ?? '', /PUT/)
  assert.match((res.headers.get('access-control-allow-headers') ?? '').toLowerCase(), /authorization/)
  // The actual request carries the origin too, errors included.
  const actual = await fetch(`${server.http}/api/v1/stats`, { headers: { Origin: 'https://other.example' } })
  assert.is(actual.status, 401)
  assert.is(actual.headers.get('access-control-allow-origin'), 'https://other.example')
  assert.match(actual.headers.get('access-control-expose-headers') ?? '', /Retry-After/)
})

test('a CORS preflight from a refused origin gets no CORS headers (403 in the error shape)', async () => {
  const res = await fetch(`${server.http}/api/v1/stats`, { method: 'OPTIONS', headers: { Origin: 'https://evil.example', 'Access-Control-Request-Method': 'GET' } })
  assert.is(res.status, 403)
  assert.is(res.headers.get('access-control-allow-origin'), null)
  assert.is((await res.json()).error.code, 'forbidden')
  const actual = await fetch(`${server.http}/health`, { headers: { Origin: 'https://evil.example' } })
  assert.is(actual.status, 200)
  assert.is(actual.headers.get('access-control-allow-origin'), null)
})

test('without CORS_ORIGINS no origin is allowed', async () => {
  const plain = await startServer()
  try {
    const res = await fetch(`${plain.http}/api/v1/stats`, { method: 'OPTIONS', headers: { Origin: 'https://app.example', 'Access-Control-Request-Method': 'GET' } })
    assert.is(res.status, 403)
    assert.is(res.headers.get('access-control-allow-origin'), null)
  } finally {
    await plain.stop()
  }
})

test('a known path with a wrong method answers 405 with Allow; unknown paths 404', async () => {
  const res = await api(server, 'DELETE', '/api/v1/stats')
  assertError(res, 405, 'method-not-allowed')
  assert.is(res.headers.get('allow'), 'GET, HEAD')
  const put = await api(server, 'PUT', '/api/v1/files')
  assertError(put, 405, 'method-not-allowed')
  assert.is(put.headers.get('allow'), 'POST')
  const docs = await api(server, 'PATCH', '/api/v1/docs/s1/doc/a')
  assert.is(docs.headers.get('allow'), 'GET, HEAD, POST')
  assertError(await api(server, 'GET', '/api/v1/nothing'), 404, 'not-found')
  assertError(await api(server, 'POST', '/nothing'), 404, 'not-found')
})

test('HEAD answers like GET without a body', async () => {
  const head = await fetch(`${server.http}/health`, { method: 'HEAD' })
  assert.is(head.status, 200)
  assert.match(head.headers.get('content-type') ?? '', /application\/json/)
  assert.is((await head.arrayBuffer()).byteLength, 0)
  const stats = await fetch(`${server.http}/api/v1/stats`, { method: 'HEAD', headers: { Authorization: `Bearer ${await mintToken(admin())}` } })
  assert.is(stats.status, 200)
})

test('GET /livez and /readyz answer 200 on a working server; /health names the parts', async () => {
  const live = await api(server, 'GET', '/livez')
  assert.is(live.status, 200)
  const ready = await api(server, 'GET', '/readyz')
  assert.is(ready.status, 200, JSON.stringify(ready.json))
  assert.is(ready.json.checks.store.ok, true)
  const health = await api(server, 'GET', '/health')
  assert.is(health.json.status, 'ok')
  assert.is(health.json.checks.store.kind, 'sqlite')
})

test('request validation answers 400 in the error shape, naming the field', async () => {
  const token = await mintToken(admin())
  const res = await api(server, 'POST', '/api/v1/schools/s1/emergencies', { token, json: { title: 'Drill', message: 'x', level: 'purple', targetRoles: ['student'] } })
  assertError(res, 400, 'bad-request')
  assert.match(res.json.error.message, /^level: /)
  // A body whose Content-Type is not JSON is still read as JSON, as before.
  const text = await fetch(`${server.http}/api/v1/schools/s1/roster`, { method: 'PUT', headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'text/plain' }, body: '[]' })
  assert.is(text.status, 200)
  const proto = await api(server, 'PATCH', '/api/v1/dashboards/s1/d', { token, json: '{"__proto__": {"x": 1}}' })
  assertError(proto, 400, 'bad-request')
})

test('GET /api/v1/openapi.json is valid OpenAPI 3.1 with every contract route and its errors', async () => {
  const res = await api(server, 'GET', '/api/v1/openapi.json')
  assert.is(res.status, 200)
  const spec = res.json
  assert.is(spec.openapi, '3.1.0')
  const result = await new Validator().validate(spec)
  assert.ok(result.valid, JSON.stringify(result.errors)?.slice(0, 2000))
  const routes: Array<[string, string, number[]]> = [
    ['get', '/health', []],
    ['get', '/livez', []],
    ['get', '/readyz', [503]],
    ['get', '/metrics', [401]],
    ['get', '/api/v1/stats', [401, 403, 429]],
    ['put', '/api/v1/schools/{school}/roster', [400, 401, 403, 413, 429]],
    ['post', '/api/v1/notifications', [400, 401, 403, 413, 429]],
    ['post', '/api/v1/schools/{school}/emergencies', [400, 401, 403, 413, 429]],
    ['get', '/api/v1/docs/{name}', [400, 401, 403, 404, 429]],
    ['post', '/api/v1/docs/{name}/restore', [400, 401, 403, 404, 429]],
    ['get', '/api/v1/buses/{school}/{bus}/trail', [400, 401, 403, 429]],
    ['patch', '/api/v1/dashboards/{school}/{name}', [400, 401, 403, 413, 429]],
    ['post', '/api/v1/files', [400, 401, 403, 413, 429]],
    ['get', '/api/v1/files/{id}', [401, 403, 404, 429]],
    ['post', '/api/v1/events', [400, 401, 403, 409, 413, 429]],
    ['get', '/api/v1/me/inbox', [400, 401, 403, 429]],
    ['put', '/api/v1/me/inbox/{id}/read', [400, 401, 403, 404, 429]],
    ['post', '/api/v1/me/inbox/read-all', [400, 401, 403, 429]],
    ['put', '/api/v1/schools/{school}/event-types/{type}', [400, 401, 403, 413, 429]],
    ['get', '/api/v1/schools/{school}/event-types', [400, 401, 403, 429]],
    ['get', '/api/v1/notifications/{id}', [400, 401, 403, 404, 429]],
    ['get', '/api/v1/schools/{school}/statistics', [400, 401, 403, 429]],
    ['post', '/api/v1/schools/{school}/leaderboards/{board}/scores', [400, 401, 403, 413, 429]],
    ['get', '/api/v1/me/school', [401, 403, 429]],
    ['put', '/api/v1/me/school', [400, 401, 403, 429]],
    ['post', '/api/v1/broadcasts', [400, 401, 403, 413, 429]],
  ]
  for (const [method, path, statuses] of routes) {
    const operation = spec.paths[path]?.[method]
    assert.ok(operation, `${method.toUpperCase()} ${path} is documented`)
    for (const status of statuses) {
      const response = operation.responses[String(status)]
      assert.ok(response, `${method.toUpperCase()} ${path} documents ${status}`)
      if (status !== 503) assert.ok(response.content['application/json'].schema.properties.error, `${method.toUpperCase()} ${path} ${status} has the error shape`)
    }
  }
  assert.ok(spec.paths['/api/v1/notifications'].post.requestBody.content['application/json'].schema.properties.targets, 'bodies come from the zod schemas')
})

test('200 parallel /health probes all answer 200, however low the request rate', async () => {
  const limited = await startServer({ MAX_HTTP_REQUESTS_PER_SEC: '2' })
  try {
    const statuses = await Promise.all(Array.from({ length: 200 }, () => fetch(`${limited.http}/health`).then((r) => r.status)))
    assert.equal([...new Set(statuses)], [200])
    const probes = await Promise.all(['/livez', '/readyz', '/metrics'].flatMap((p) => Array.from({ length: 20 }, () => fetch(`${limited.http}${p}`).then((r) => r.status))))
    assert.equal([...new Set(probes)], [200])
  } finally {
    await limited.stop()
  }
})

test('over the rate: 429 with Retry-After; users and addresses have budgets of their own', async () => {
  const limited = await startServer({ MAX_HTTP_REQUESTS_PER_SEC: '2' })
  try {
    const get = (headers: Record<string, string>) => fetch(`${limited.http}/api/v1/stats`, { headers })
    const a1 = { Authorization: `Bearer ${await mintToken(admin('a1'))}` }
    const statuses: number[] = []
    let limitedResponse: Response | undefined
    for (let i = 0; i < 8; i++) {
      const res = await get(a1)
      statuses.push(res.status)
      if (res.status === 429) limitedResponse ??= res
      else await res.arrayBuffer()
    }
    assert.ok(statuses.includes(429), statuses.join(','))
    const retryAfter = Number(limitedResponse!.headers.get('retry-after'))
    assert.ok(retryAfter >= 1 && retryAfter <= 2, `Retry-After ${limitedResponse!.headers.get('retry-after')}`)
    const body = await limitedResponse!.json()
    assert.is(body.error.code, 'rate-limited')
    // Another user behind the same address has a budget of its own.
    assert.is((await get({ Authorization: `Bearer ${await mintToken(admin('a2'))}` })).status, 200)
    // A different (invalid) Authorization header on every request counts against the address.
    const forged: number[] = []
    for (let i = 0; i < 8; i++) forged.push((await get({ Authorization: `Bearer forged-${i}-${Math.random()}` })).status)
    assert.ok(forged.includes(429), forged.join(','))
    assert.ok(forged.slice(0, 4).every((s) => s === 401), forged.join(','))
    // Downloads with ?token= count against their user, not the address.
    const t1 = await mintToken(teacher('t1'))
    const upload = await fetch(`${limited.http}/api/v1/files?school=s1`, { method: 'POST', headers: { Authorization: `Bearer ${t1}`, 'Content-Type': 'text/plain', 'X-Filename': 'a.txt' }, body: 'hi' })
    assert.is(upload.status, 201)
    const { url } = await upload.json()
    const downloads: number[] = []
    for (const sub of ['u1', 'u2', 'u3', 'u4', 'u5', 'u6']) downloads.push((await fetch(`${limited.http}${url}?token=${await mintToken(student(sub))}`)).status)
    assert.equal([...new Set(downloads)], [200], downloads.join(','))
  } finally {
    await limited.stop()
  }
})

test('TRUST_PROXY: the client address comes from X-Forwarded-For only when the proxy is trusted', async () => {
  const playground = { PLAYGROUND: '1' }
  const body = JSON.stringify({ school: 's1', sub: 'a1', role: 'admin' })
  const post = (s: TestServer, headers: Record<string, string> = {}) =>
    fetch(`${s.http}/playground/token`, { method: 'POST', headers: { 'Content-Type': 'application/json', ...headers }, body })
  const behindProxy = await startServer({ ...playground, TRUST_PROXY: '127.0.0.1' })
  const publicPlayground = await startServer({ ...playground, TRUST_PROXY: 'true', PLAYGROUND_PUBLIC: '1' })
  const untrusted = await startServer(playground)
  try {
    const local = await post(behindProxy)
    assert.is(local.status, 200)
    assert.type((await local.json()).token, 'string')
    const remote = await post(behindProxy, { 'X-Forwarded-For': '203.0.113.9' })
    assert.is(remote.status, 403)
    assert.is((await remote.json()).error.code, 'forbidden')
    // Not trusted: the header is ignored, the caller is the loopback socket.
    assert.is((await post(untrusted, { 'X-Forwarded-For': '203.0.113.9' })).status, 200)
    // PLAYGROUND_PUBLIC serves every caller.
    assert.is((await post(publicPlayground, { 'X-Forwarded-For': '203.0.113.9' })).status, 200)
    // /metrics without a token is for this host only, judged by the same address.
    assertError(await api(behindProxy, 'GET', '/metrics', { headers: { 'X-Forwarded-For': '203.0.113.9' } }), 401, 'unauthenticated')
    assert.is((await api(behindProxy, 'GET', '/metrics')).status, 200)
  } finally {
    await Promise.all([behindProxy.stop(), publicPlayground.stop(), untrusted.stop()])
  }
})

test('one access log line per request: method, path without query, status, ms, user; never a token', async () => {
  const token = await mintToken(student('u7'))
  logLines.length = 0
  await api(server, 'GET', '/api/v1/stats?secret=shh', { token })
  await fetch(`${server.http}/api/v1/files/nothing?token=${token}`)
  const lines = logLines.filter((l) => l.msg === 'http request')
  assert.is(lines.length, 2, JSON.stringify(logLines))
  assert.equal(
    lines.map(({ method, path, status, sub }) => ({ method, path, status, sub })),
    [
      { method: 'GET', path: '/api/v1/stats', status: 403, sub: 'u7' },
      { method: 'GET', path: '/api/v1/files/nothing', status: 404, sub: 'u7' },
    ],
  )
  assert.type(lines[0].ms, 'number')
  const text = JSON.stringify(logLines)
  assert.not.ok(text.includes(token), 'no token in the log')
  assert.not.ok(text.includes('shh'), 'no query string in the log')
})

test('a playground listening on a non-loopback address is warned about at start-up', async () => {
  const warnings: Record<string, unknown>[] = []
  const log = pino({ level: 'warn' }, { write: (line: string) => void warnings.push(JSON.parse(line)) })
  const exposed = await startServer({ PLAYGROUND: '1', HOST: '0.0.0.0' }, { log })
  await exposed.stop()
  assert.ok(warnings.some((w) => w.level === 40 && /PLAYGROUND is on and the server listens on 0\.0\.0\.0/.test(String(w.msg))), JSON.stringify(warnings))
  warnings.length = 0
  const local = await startServer({ PLAYGROUND: '1' }, { log })
  await local.stop()
  assert.not.ok(warnings.some((w) => /PLAYGROUND/.test(String(w.msg))), JSON.stringify(warnings))
})

test.run()
