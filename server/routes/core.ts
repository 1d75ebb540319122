// Health, liveness, readiness, metrics and statistics. None of the probes is rate limited.
import { z } from 'zod'
import type { Homeroom } from '../homeroom.ts'
import { errors, isLoopback, requireRole, user, type Api } from '../http.ts'

/** How long one probe may take, and how long its answer is reused (so a burst of probes costs one check). */
const CHECK_TIMEOUT_MS = 3000
const CHECK_REUSE_MS = 1000
/** The one claim key readiness writes (again and again: a claim of an existing key is still a write). */
const PROBE_KEY = 'readyz:probe'

const part = z.object({ ok: z.boolean(), ms: z.number().optional(), error: z.string().optional() })
const checksBody = z.object({ store: part.extend({ kind: z.string() }), redis: part.optional() })
export type Checks = z.infer<typeof checksBody>

function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

async function probe(what: string, run: () => Promise<unknown>): Promise<{ ok: boolean; ms: number; error?: string }> {
  const started = performance.now()
  try {
    await within(run(), CHECK_TIMEOUT_MS, what)
    return { ok: true, ms: Math.round(performance.now() - started) }
  } catch (error) {
    return { ok: false, ms: Math.round(performance.now() - started), error: String((error as Error)?.message ?? error).slice(0, 300) }
  }
}

/** The parts a ready instance needs: its store (a read and a write) and, when configured, Redis. */
export class Readiness {
  private readonly app: Homeroom
  private last?: { at: number; checks: Promise<Checks> }

  constructor(app: Homeroom) {
    this.app = app
  }

  check(): Promise<Checks> {
    const now = Date.now()
    if (this.last && now - this.last.at < CHECK_REUSE_MS) return this.last.checks
    const checks = this.run()
    this.last = { at: now, checks }
    return checks
  }

  private async run(): Promise<Checks> {
    const { store } = this.app
    const redis = this.app.redis
    const [storeCheck, redisCheck] = await Promise.all([
      probe('the store', async () => {
        await store.roster('readyz')
        await store.claim(PROBE_KEY)
      }),
      redis ? probe('Redis', () => (redis.status === 'ready' ? redis.ping() : Promise.reject(new Error(`not connected (${redis.status})`)))) : undefined,
    ])
    return { store: { kind: store.kind, ...storeCheck }, ...(redisCheck ? { redis: redisCheck } : {}) }
  }
}

const ready = (checks: Checks): boolean => checks.store.ok && (checks.redis?.ok ?? true)

const healthBody = z
  .object({ status: z.enum(['ok', 'unavailable']), instance: z.string(), store: z.string(), uptimeSec: z.number(), checks: checksBody })
  .describe('status "ok" when every part works; otherwise "unavailable" (with 503), naming the failing part')
const readyBody = z.object({ status: z.enum(['ready', 'unavailable']), checks: checksBody })
const statsBody = z.looseObject({ connections: z.number(), documents: z.number(), rooms: z.record(z.string(), z.number()), messagesPerSec: z.number() })
const noLimit = { rateLimit: false } as const

export function coreRoutes(api: Api, app: Homeroom): void {
  const readiness = new Readiness(app)

  api.get('/health', { config: noLimit, schema: { summary: 'Health, with the state of each part', tags: ['operations'], response: { 200: healthBody, 503: healthBody } } }, async (_request, reply) => {
    const checks = await readiness.check()
    const ok = ready(checks)
    return reply.code(ok ? 200 : 503).send({ status: ok ? 'ok' : 'unavailable', instance: app.config.instanceId, store: app.store.kind, uptimeSec: Math.round(process.uptime()), checks })
  })

  api.get('/livez', { config: noLimit, schema: { summary: 'Liveness: the process answers', tags: ['operations'], response: { 200: z.object({ status: z.literal('alive') }) } } }, async () => ({ status: 'alive' as const }))

  api.get(
    '/readyz',
    { config: noLimit, schema: { summary: 'Readiness: the store is reachable and writable, and Redis (when configured) reachable', tags: ['operations'], response: { 200: readyBody, 503: readyBody } } },
    async (_request, reply) => {
      const checks = await readiness.check()
      const ok = ready(checks)
      return reply.code(ok ? 200 : 503).send({ status: ok ? 'ready' : 'unavailable', checks })
    },
  )

  api.get(
    '/metrics',
    {
      config: noLimit,
      schema: {
        summary: 'Prometheus metrics: for callers on this host, or with any valid token',
        tags: ['operations'],
        security: [{}, { bearer: [] }],
        response: { 200: { description: 'Prometheus text exposition', content: { 'text/plain': { schema: z.string() } } }, ...errors(401) },
      },
    },
    async (request, reply) => {
      // request.ip: the client's address, through trusted proxies only (TRUST_PROXY).
      if (!isLoopback(request.ip)) user(request)
      app.metrics.documents.set(app.hocuspocus.getDocumentsCount())
      app.metrics.sockets.set(app.socketCount())
      const text = await app.metrics.registry.metrics()
      return reply.type(app.metrics.registry.contentType).send(text)
    },
  )

  api.get(
    '/api/v1/stats',
    {
      schema: {
        summary: 'Connections, documents, rooms and message rates of this instance',
        tags: ['operations'],
        security: [{ bearer: [] }],
        response: {
          200: statsBody,
          ...errors(401, 403, 429),
        },
      },
    },
    async (request) => {
      requireRole(user(request), 'admin', 'service')
      return app.stats() as z.infer<typeof statsBody>
    },
  )
}
