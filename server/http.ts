// A small JSON router on the Hocuspocus HTTP server. Every error leaves as
// `{ "error": { "code", "message" } }` with a fitting status.
import { createHash } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Identity } from '../docs-model/types.ts'
import type { Identities } from './identity.ts'
import { TokenBuckets } from './rate.ts'

export class HttpError extends Error {
  readonly status: number
  readonly code: string
  constructor(status: number, code: string, message: string) {
    super(message)
    this.status = status
    this.code = code
  }
}

export interface RequestContext {
  req: IncomingMessage
  res: ServerResponse
  url: URL
  params: Record<string, string>
  /** The caller's identity from `Authorization: Bearer`; throws 401 when absent or invalid. */
  user(): Promise<Identity>
  /** The JSON body, at most `limit` bytes; throws 400/413. */
  json(limit?: number): Promise<unknown>
  /** The raw body, at most `limit` bytes; throws 413. */
  body(limit: number): Promise<Buffer>
}

export type Handler = (ctx: RequestContext) => Promise<void> | void

interface Route {
  method: string
  parts: string[]
  handler: Handler
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body)
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(text) })
  res.end(text)
}

export function sendError(res: ServerResponse, error: HttpError): void {
  sendJson(res, error.status, { error: { code: error.code, message: error.message } })
}

async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? 0)
  if (declared > limit) throw new HttpError(413, 'too-large', `body of ${declared} bytes exceeds ${limit}`)
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req) {
    size += (chunk as Buffer).length
    if (size > limit) throw new HttpError(413, 'too-large', `body exceeds ${limit} bytes`)
    chunks.push(chunk as Buffer)
  }
  return Buffer.concat(chunks)
}

export class Router {
  private readonly routes: Route[] = []
  private readonly identities: Identities
  private readonly rates: TokenBuckets

  constructor(identities: Identities, requestsPerSec: number) {
    this.identities = identities
    this.rates = new TokenBuckets(requestsPerSec)
  }

  /** `pattern` like `/api/v1/schools/:school/roster`; a trailing `*name` captures the rest. */
  on(method: string, pattern: string, handler: Handler): this {
    this.routes.push({ method, parts: pattern.split('/').filter(Boolean), handler })
    return this
  }

  /** Handles the request if a route matches; returns false otherwise. */
  async handle(req: IncomingMessage, res: ServerResponse): Promise<boolean> {
    const url = new URL(req.url ?? '/', 'http://localhost')
    let segments: string[]
    try {
      segments = url.pathname.split('/').filter(Boolean).map(decodeURIComponent)
    } catch {
      sendError(res, new HttpError(400, 'bad-request', 'the path has a malformed percent-escape'))
      return true
    }
    let methodMismatch = false
    for (const route of this.routes) {
      const params = match(route.parts, segments)
      if (!params) continue
      if (route.method !== req.method) {
        methodMismatch = true
        continue
      }
      if (!this.rates.take(caller(req))) {
        sendError(res, new HttpError(429, 'rate-limited', 'too many requests; slow down and retry'))
        return true
      }
      await this.run(route.handler, { req, res, url, params })
      return true
    }
    if (methodMismatch) {
      sendError(res, new HttpError(404, 'not-found', `${req.method} is not supported on ${url.pathname}`))
      return true
    }
    return false
  }

  private async run(handler: Handler, base: Pick<RequestContext, 'req' | 'res' | 'url' | 'params'>): Promise<void> {
    const ctx: RequestContext = {
      ...base,
      user: async () => {
        const header = base.req.headers.authorization ?? ''
        const token = header.startsWith('Bearer ') ? header.slice(7).trim() : undefined
        try {
          return await this.identities.verify(token)
        } catch (error) {
          throw new HttpError(401, 'unauthenticated', (error as { reason?: string }).reason ?? 'invalid token')
        }
      },
      body: (limit) => readBody(base.req, limit),
      json: async (limit = 1024 * 1024) => {
        const raw = await readBody(base.req, limit)
        try {
          return JSON.parse(raw.toString('utf8'))
        } catch {
          throw new HttpError(400, 'bad-request', 'body must be JSON')
        }
      },
    }
    try {
      await handler(ctx)
    } catch (error) {
      if (base.res.headersSent) {
        base.res.destroy()
        return
      }
      sendError(base.res, error instanceof HttpError ? error : new HttpError(500, 'internal', 'internal error'))
      if (!(error instanceof HttpError)) throw error
    }
  }
}

/** Callers are told apart by their credentials, else by their address. */
const caller = (req: IncomingMessage): string =>
  req.headers.authorization ? createHash('sha256').update(req.headers.authorization).digest('base64') : (req.socket.remoteAddress ?? '?')

function match(parts: string[], segments: string[]): Record<string, string> | undefined {
  const params: Record<string, string> = {}
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i]
    if (part.startsWith('*')) {
      if (i >= segments.length) return undefined
      params[part.slice(1)] = segments.slice(i).join('/')
      return params
    }
    if (i >= segments.length) return undefined
    if (part.startsWith(':')) params[part.slice(1)] = segments[i]
    else if (part !== segments[i]) return undefined
  }
  return parts.length === segments.length ? params : undefined
}

/** Throws 403 unless the user has one of the roles. */
export function requireRole(user: Identity, ...roles: Identity['role'][]): void {
  if (!roles.includes(user.role)) throw new HttpError(403, 'forbidden', `role ${user.role} may not do this; needs ${roles.join(' or ')}`)
}
