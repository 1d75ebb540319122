// The HTTP API: Fastify on the Hocuspocus HTTP server (same port; Hocuspocus keeps the WebSocket
// upgrade path and hands every plain request to `HttpApi.handle`). Fastify supplies routing (405
// with Allow, HEAD), CORS (@fastify/cors), rate limits (@fastify/rate-limit, in Redis when several
// instances run), trusted proxies, request validation from the zod schemas and the OpenAPI
// document (@fastify/swagger). Homeroom adds the error shape `{ "error": { "code", "message" } }`,
// the identity of the caller (verified once per request, and the key of its rate limit) and one
// access log line per request. See docs/http.md.
import { once } from 'node:events'
import * as map from 'lib0/map'
import type { IncomingMessage, ServerResponse } from 'node:http'
import Fastify, {
  type FastifyBaseLogger,
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  type RawReplyDefaultExpression,
  type RawRequestDefaultExpression,
  type RawServerDefault,
} from 'fastify'
import cors from '@fastify/cors'
import rateLimit from '@fastify/rate-limit'
import swagger from '@fastify/swagger'
import { hasZodFastifySchemaValidationErrors, jsonSchemaTransform, validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod'
import { Redis } from 'ioredis'
import { z } from 'zod'
import type { Identity } from '../docs-model/types.ts'
import { SEGMENT } from '../docs-model/names.ts'
import { belongsTo } from '../docs-model/common.ts'
import type { Config } from './config.ts'
import type { Identities } from './identity.ts'
import type { Logger } from './log.ts'

export class HttpError extends Error {
  readonly status: number
  readonly code: string
  constructor(status: number, code: string, message: string) {
    super(message)
    this.status = status
    this.code = code
  }
}

/** The Fastify instance routes are registered on, typed by the zod schemas. */
export type Api = FastifyInstance<RawServerDefault, RawRequestDefaultExpression, RawReplyDefaultExpression, FastifyBaseLogger, ZodTypeProvider>
export type RoutePlugin<A> = (api: Api, app: A) => void | Promise<void>

declare module 'fastify' {
  interface FastifyRequest {
    /** The caller, when its token verified. */
    identity?: Identity
    /** Why a presented token did not verify. */
    authFailure?: string
  }
  interface FastifyContextConfig {
    /** The route also takes its token from `?token=` (links followed by browsers). */
    queryToken?: boolean
    /** The route's path in the OpenAPI document, when its Fastify path cannot say it (a wildcard). */
    openapiPath?: string
  }
}

/** The contract's error body, for OpenAPI. */
export const errorBody = z
  .object({ error: z.object({ code: z.string().describe('machine-readable, e.g. bad-request, forbidden, rate-limited'), message: z.string() }) })
  .describe('error')

const ERROR_DESCRIPTIONS: Record<number, string> = {
  400: 'bad-request: the path, query or body is invalid',
  401: 'unauthenticated: no token, or a token that does not verify',
  403: 'forbidden: the caller may not do this',
  404: 'not-found',
  405: 'method-not-allowed (see the Allow header)',
  409: 'conflict',
  413: 'too-large: the body exceeds the limit',
  429: 'rate-limited (see Retry-After)',
  503: 'unavailable',
}

/** Response schemas of the error statuses a route may answer, for OpenAPI. */
export function errors(...statuses: number[]): Record<number, typeof errorBody> {
  return Object.fromEntries(statuses.map((s) => [s, errorBody.describe(ERROR_DESCRIPTIONS[s] ?? 'error')]))
}

/** The caller's identity; 401 when no token was presented or it did not verify. */
export function user(request: FastifyRequest): Identity {
  if (request.identity) return request.identity
  throw new HttpError(401, 'unauthenticated', request.authFailure ?? 'unauthenticated: no token')
}

/** Throws 403 unless the user has one of the roles. */
export function requireRole(user: Identity, ...roles: Identity['role'][]): void {
  if (!roles.includes(user.role)) throw new HttpError(403, 'forbidden', `role ${user.role} may not do this; needs ${roles.join(' or ')}`)
}

/**
 * A preParsing hook running `check` before the body is read: authentication, role and path checks
 * come first (401/403 before 400, and no upload is read for a caller who may not make it), after
 * the rate limit has counted the request.
 */
export function before(check: (request: FastifyRequest) => void | Promise<void>) {
  return async (request: FastifyRequest, _reply: FastifyReply, payload: NodeJS.ReadableStream) => {
    await check(request)
    return payload
  }
}

/** Path parameters as strings, for checks that run before validation. */
export const rawParams = (request: FastifyRequest): Record<string, string> => request.params as Record<string, string>

/** Before the body is read: the caller has one of `roles` and belongs to the route's `:school`. */
export const schoolRole = (...roles: Identity['role'][]) =>
  before((request) => {
    const caller = user(request)
    requireRole(caller, ...roles)
    const { school } = rawParams(request)
    if (!SEGMENT.test(school)) throw new HttpError(400, 'bad-request', `'${school.slice(0, 70)}' is not a valid school id`)
    if (!belongsTo(caller, school)) throw new HttpError(403, 'forbidden', `${caller.sub} is not a member of school ${school}`)
  })

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|::ffff:127\.\d+\.\d+\.\d+)$/
export const isLoopback = (address: string | undefined): boolean => address !== undefined && LOOPBACK.test(address)
/** Whether a listen host is reachable only from this machine. */
export const isLoopbackHost = (host: string): boolean => host === 'localhost' || isLoopback(host)

/** A warning when the playground (dev tokens for anyone it answers) is reachable from other machines. */
export function warnIfPlaygroundExposed(config: Config, log: Logger): void {
  if (!config.playground || isLoopbackHost(config.host)) return
  log.warn(
    { host: config.host, playgroundPublic: config.playgroundPublic },
    config.playgroundPublic
      ? `PLAYGROUND and PLAYGROUND_PUBLIC are on and the server listens on ${config.host}: anyone who reaches it can mint an admin token for any school`
      : `PLAYGROUND is on and the server listens on ${config.host}: the playground page is public (tokens are minted for loopback callers only)`,
  )
}

const pathOf = (url: string): string => url.split('?')[0].slice(0, 512)

const CODES: Record<number, string> = {
  400: 'bad-request',
  401: 'unauthenticated',
  403: 'forbidden',
  404: 'not-found',
  405: 'method-not-allowed',
  406: 'not-acceptable',
  409: 'conflict',
  413: 'too-large',
  415: 'unsupported-media-type',
  429: 'rate-limited',
  503: 'unavailable',
}

/** Any error a request meets, as the status, code and message the client is told. */
function toHttpError(error: FastifyError | Error, request: FastifyRequest): HttpError {
  if (error instanceof HttpError) return error
  if (hasZodFastifySchemaValidationErrors(error)) {
    const issue = error.validation[0]
    const where = (error as { validationContext?: string }).validationContext
    const path = issue.instancePath.slice(1).replaceAll('/', '.') || (where === 'querystring' ? 'query' : (where ?? 'body'))
    return new HttpError(400, 'bad-request', `${path}: ${issue.message}`)
  }
  const fastifyError = error as FastifyError
  switch (fastifyError.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new HttpError(413, 'too-large', `body exceeds ${request.routeOptions.bodyLimit ?? 'the limit of'} bytes`)
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new HttpError(400, 'bad-request', 'body must be JSON')
  }
  const status = fastifyError.statusCode
  if (status && status >= 400 && status < 500) return new HttpError(status, CODES[status] ?? 'bad-request', fastifyError.message)
  return new HttpError(500, 'internal', 'internal error')
}

/** The JSON error body, with the right status. */
export function sendError(reply: FastifyReply, error: HttpError): FastifyReply {
  return reply.code(error.status).type('application/json; charset=utf-8').send({ error: { code: error.code, message: error.message } })
}

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'] as const

/** `TRUST_PROXY` as Fastify takes it: true/false, a hop count, or addresses/CIDRs (comma separated). */
function trustProxyOption(value: boolean | string): boolean | string | ((address: string, hop: number) => boolean) {
  if (typeof value !== 'string' || !/^\d+$/.test(value)) return value
  const hops = Number(value)
  return (_address, hop) => hop < hops
}

export interface HttpOptions {
  config: Config
  identities: Identities
  log: Logger
}

export class HttpApi {
  readonly fastify: Api
  /** The Redis connection of the shared rate limits (and the readiness check), when REDIS_URL is set. */
  readonly redis?: Redis
  private readonly log: Logger
  private readonly paths = new Map<string, Set<string>>()
  private closed?: Promise<void>

  constructor({ config, identities, log }: HttpOptions) {
    this.log = log
    const fastify = Fastify({
      trustProxy: trustProxyOption(config.http.trustProxy),
      logger: false, // the access log below is the one line per request; Fastify's would carry query strings
      bodyLimit: 1024 * 1024,
      frameworkErrors: (error, _request, reply) => {
        sendError(reply, new HttpError(400, 'bad-request', error.code === 'FST_ERR_BAD_URL' ? 'the path has a malformed percent-escape' : error.message))
      },
    }).withTypeProvider<ZodTypeProvider>()
    this.fastify = fastify
    fastify.setValidatorCompiler(validatorCompiler)
    // Response schemas document the API; responses are written as they are (never rejected).
    fastify.setSerializerCompiler(() => (data) => JSON.stringify(data))

    // Bodies are JSON whatever their Content-Type says (as clients have always sent them); the
    // upload route replaces this with raw bytes. Both refuse __proto__ and constructor keys.
    fastify.removeContentTypeParser('text/plain')
    fastify.addContentTypeParser('*', { parseAs: 'string' }, (request, body, done) => {
      if (body === '') return done(null, undefined)
      fastify.getDefaultJsonParser('error', 'error')(request, body as string, done)
    })

    // Who is calling: verified once, before the rate limit (whose key it is) and every route.
    fastify.addHook('onRequest', async (request) => {
      const header = request.headers.authorization
      let token: string | undefined
      if (header !== undefined) token = header.startsWith('Bearer ') ? header.slice(7).trim() : ''
      else if (request.routeOptions.config?.queryToken) token = (request.query as Record<string, string | undefined>)?.token
      if (token === undefined) return
      try {
        request.identity = await identities.verify(token)
      } catch (error) {
        request.authFailure = (error as { reason?: string }).reason ?? 'invalid token'
      }
    })

    fastify.addHook('onResponse', async (request, reply) => {
      log.info(
        { method: request.method, path: pathOf(request.url), status: reply.statusCode, ms: Math.round(reply.elapsedTime * 10) / 10, sub: request.identity?.sub, ip: request.ip },
        'http request',
      )
    })

    fastify.setErrorHandler((error, request, reply) => {
      const answer = toHttpError(error as Error, request)
      if (answer.status >= 500) log.error({ err: error, method: request.method, path: pathOf(request.url) }, 'request failed')
      if (reply.sent || reply.raw.headersSent) {
        reply.raw.destroy()
        return
      }
      sendError(reply, answer)
    })

    fastify.addHook('onRoute', (route) => {
      if (route.url === '*') return
      const methods = map.setIfUndefined(this.paths, route.url, () => new Set<string>())
      for (const method of [route.method].flat()) methods.add(method)
    })

    if (config.redisUrl) {
      // Commands fail at once while Redis is away (no offline queue): the limiter then lets
      // requests through (skipOnError) rather than stalling them, and readiness reports it.
      this.redis = new Redis(config.redisUrl, { enableOfflineQueue: false, maxRetriesPerRequest: 1, connectTimeout: 2000, commandTimeout: 1000 })
      let reported = false
      this.redis.on('error', (error) => {
        if (!reported) log.warn({ err: error }, 'Redis of the HTTP rate limits unreachable; requests are not limited across instances until it is back')
        reported = true
      })
      this.redis.on('ready', () => (reported = false))
    }

    const origins = new Set(config.http.corsOrigins)
    fastify.register(cors, {
      origin: origins.has('*') ? '*' : (origin, callback) => callback(null, origin !== undefined && origins.has(origin)),
      methods: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'],
      allowedHeaders: ['Authorization', 'Content-Type', 'X-Filename'],
      exposedHeaders: ['Retry-After', 'Content-Disposition', 'X-RateLimit-Limit', 'X-RateLimit-Remaining', 'X-RateLimit-Reset'],
      maxAge: 600,
    })

    // Each caller may average MAX_HTTP_REQUESTS_PER_SEC, with bursts of twice that: windows of
    // two seconds, each admitting twice the rate.
    fastify.register(rateLimit, {
      max: config.limits.httpRequestsPerSec * 2,
      timeWindow: 2000,
      hook: 'onRequest',
      keyGenerator: (request) => (request.identity ? `user:${request.identity.sub}` : `ip:${request.ip}`),
      errorResponseBuilder: (_request, context) => new HttpError(429, 'rate-limited', `too many requests; slow down and retry in ${context.after}`),
      skipOnError: true,
      ...(this.redis ? { redis: this.redis, nameSpace: `${config.redisKeyPrefix}http-rate:` } : {}),
    })

    fastify.register(swagger, {
      openapi: {
        openapi: '3.1.0',
        info: { title: 'Homeroom HTTP API', version: '1', description: 'The HTTP part of the Homeroom contract (section 4). Errors are `{ "error": { "code", "message" } }`.' },
        components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } } },
      },
      transform: (input) => {
        const out = jsonSchemaTransform(input)
        const documented = (input.route.config as { openapiPath?: string } | undefined)?.openapiPath
        // find-my-way wildcards (`*`) as OpenAPI path parameters named `name`.
        if (out.url.endsWith('*')) {
          out.url = documented ?? out.url.slice(0, -1) + '{name}'
          const params = (out.schema as { params?: { properties?: Record<string, unknown>; required?: string[] } }).params
          if (params?.properties?.['*']) {
            params.properties = { name: params.properties['*'] }
            params.required = ['name']
          }
        }
        return out
      },
    })

    fastify.after(() => {
      fastify.setNotFoundHandler({ preHandler: fastify.rateLimit() }, (request, reply) => {
        if (request.method === 'OPTIONS' && request.headers.origin && request.headers['access-control-request-method']) {
          return sendError(reply, new HttpError(403, 'forbidden', `origin ${String(request.headers.origin).slice(0, 200)} is not allowed (CORS_ORIGINS)`))
        }
        return sendError(reply, new HttpError(404, 'not-found', `no route ${pathOf(request.url)}`))
      })
      fastify.get('/api/v1/openapi.json', { schema: { summary: 'This API as OpenAPI 3.1', tags: ['meta'], response: { 200: z.looseObject({}), ...errors(429) } } }, () => fastify.swagger() as unknown as Record<string, unknown>)
    })
  }

  /** Registers route modules, in order; call before the first request. */
  routes<A>(app: A, ...plugins: RoutePlugin<A>[]): void {
    for (const plugin of plugins) this.fastify.register(async (api) => plugin(api, app))
    // Last: a known path asked with another method answers 405 with Allow.
    this.fastify.register(async (api) => {
      for (const [url, present] of this.paths) {
        const allowed = METHODS.filter((m) => present.has(m) || (m === 'HEAD' && present.has('GET')))
        const missing = METHODS.filter((m) => !allowed.includes(m))
        if (missing.length === 0) continue
        api.route({
          method: missing,
          url,
          schema: { hide: true },
          handler: async (request, reply) => {
            reply.header('Allow', allowed.join(', '))
            throw new HttpError(405, 'method-not-allowed', `${request.method} is not supported on ${pathOf(request.url)}; use ${allowed.join(', ')}`)
          },
        })
      }
    })
  }

  /** Loads every plugin and route; errors surface here (at start) rather than at the first request. */
  async ready(): Promise<void> {
    await this.fastify.ready()
    // Start counting in Redis from the first request: wait (a little) for its connection.
    const redis = this.redis
    if (redis && redis.status !== 'ready') {
      let timer: NodeJS.Timeout | undefined
      await Promise.race([once(redis, 'ready').catch(() => undefined), new Promise((resolve) => (timer = setTimeout(resolve, 2000)))]).finally(() => clearTimeout(timer))
    }
  }

  /** Serves one request from the Hocuspocus HTTP server. */
  async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    await this.fastify.ready()
    this.fastify.routing(request, response)
  }

  close(): Promise<void> {
    this.closed ??= (async () => {
      await this.fastify.close().catch((error) => this.log.warn({ err: error }, 'closing the HTTP API failed'))
      this.redis?.disconnect()
    })()
    return this.closed
  }
}
