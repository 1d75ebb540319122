// Every route is in the OpenAPI description: the routes Fastify registers are recorded as they
// are (an onRoute hook added before the server loads its route modules), and each one not
// deliberately hidden must appear under its path and method in GET /api/v1/openapi.json, which
// must be valid OpenAPI 3.1; and nothing is documented that is not served. The hidden ones are
// named here: the automatic 405 answers, CORS preflights and the playground's static files.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { rmSync } from 'node:fs'
import { Validator } from '@seriousme/openapi-schema-validator'
import { loadConfig } from '../server/config.ts'
import { createHomeroom, type HomeroomServer } from '../server/app.ts'
import { tempDir, testEnv } from './helpers/server.ts'

interface Registered {
  method: string
  url: string
  hidden: boolean
  openapiPath?: string
}

/** A Fastify path as OpenAPI spells it: `:param` as `{param}`, a trailing wildcard as `{name}` (server/http.ts). */
function openapiPath(route: Registered): string {
  if (route.url.endsWith('*')) return route.openapiPath ?? `${route.url.slice(0, -1)}{name}`
  return route.url.replace(/:(\w+)/g, '{$1}')
}

const dataDir = tempDir()
let app: HomeroomServer
const routes: Registered[] = []
let spec: any

test.before(async () => {
  app = createHomeroom(loadConfig(testEnv(dataDir, { SERVICE_TOKEN: 'svc-0123456789abcdef', PLAYGROUND: 'true' })))
  app.api.fastify.addHook('onRoute', (route) => {
    const config = route.config as { openapiPath?: string } | undefined
    for (const method of [route.method].flat()) {
      routes.push({ method: String(method), url: route.url, hidden: Boolean((route.schema as { hide?: boolean } | undefined)?.hide), openapiPath: config?.openapiPath })
    }
  })
  const { port } = await app.start()
  if (process.env.PRINT_ROUTES) console.log(routes.map((r) => `${r.method} ${r.url} ${r.hidden}`).join("\n"))
  const res = await fetch(`http://127.0.0.1:${port}/api/v1/openapi.json`)
  assert.is(res.status, 200)
  spec = await res.json()
})
test.after(async () => {
  await app.stop()
  rmSync(dataDir, { recursive: true, force: true })
})

/** The routes a caller uses: HEAD is GET's automatic twin. */
const served = () => routes.filter((r) => !r.hidden && r.method !== 'HEAD')

test('the description is valid OpenAPI 3.1', async () => {
  assert.is(spec.openapi, '3.1.0')
  const result = await new Validator().validate(spec)
  assert.ok(result.valid, JSON.stringify(result.errors)?.slice(0, 2000))
})

test('every registered route is documented under its path and method', () => {
  assert.ok(served().length >= 25, `the hook saw the routes (${served().length})`)
  const missing = served().filter((r) => !spec.paths[openapiPath(r)]?.[r.method.toLowerCase()])
  assert.equal(missing.map((r) => `${r.method} ${r.url}`), [], 'routes missing from /api/v1/openapi.json')
  // The routes of issue 16 by name, so a renamed route is noticed here too.
  for (const [method, path] of [
    ['post', '/api/v1/events'],
    ['put', '/api/v1/schools/{school}/event-types/{type}'],
    ['get', '/api/v1/schools/{school}/event-types'],
    ['get', '/api/v1/notifications/{id}'],
    ['get', '/api/v1/schools/{school}/statistics'],
    ['get', '/api/v1/me/inbox'],
    ['put', '/api/v1/me/inbox/{id}/read'],
    ['post', '/api/v1/me/inbox/read-all'],
    ['post', '/api/v1/schools/{school}/leaderboards/{board}/scores'],
    ['get', '/api/v1/me/school'],
    ['put', '/api/v1/me/school'],
    ['post', '/api/v1/broadcasts'],
    ['get', '/api/v1/stats'],
  ]) assert.ok(spec.paths[path]?.[method], `${method.toUpperCase()} ${path}`)
})

test('nothing documented that is not served; the hidden routes are the known ones', () => {
  const servedKeys = new Set(served().map((r) => `${r.method.toLowerCase()} ${openapiPath(r)}`))
  const documented = Object.entries(spec.paths as Record<string, Record<string, unknown>>).flatMap(([path, ops]) => Object.keys(ops).filter((k) => k !== 'parameters').map((m) => `${m} ${path}`))
  assert.equal(documented.filter((k) => !servedKeys.has(k)), [], 'documented but not served')
  const gets = new Set(routes.filter((r) => r.method === 'GET').map((r) => r.url))
  const unexplained = routes.filter((r) => r.hidden && !isKnownHidden(r, gets))
  assert.equal(unexplained.map((r) => `${r.method} ${r.url}`), [], 'hidden routes nobody named')
})

/** 405 answers for methods a path lacks, CORS preflights, the playground's pages and files, and HEAD twins of GET. */
function isKnownHidden(route: Registered, gets: Set<string>): boolean {
  if (route.method === 'HEAD' && gets.has(route.url)) return true
  if (route.method === 'OPTIONS') return true
  if (['/', '/sw.js'].includes(route.url) || route.url.startsWith('/playground/')) return true
  const methods = new Set(routes.filter((r) => r.url === route.url && !r.hidden).map((r) => r.method))
  return methods.size > 0 && !methods.has(route.method) // the 405 route of a known path
}

test.run()
