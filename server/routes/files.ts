// File attachments for chat messages. POST /api/v1/files?school=<s> stores the raw body (at most
// MAX_FILE_BYTES) with its type and a sanitised name; GET on the returned url serves it to members
// of that school only, always as a download (attachment, nosniff, sandboxed), never inline.
import { randomBytes } from 'node:crypto'
import type { Homeroom } from '../app.ts'
import { HttpError, sendJson, type RequestContext, type Router } from '../http.ts'
import { belongsTo } from '../../extensions/auth.ts'
import { SEGMENT } from '../../docs-model/names.ts'
import type { Identity } from '../../docs-model/types.ts'

const FILES = '/api/v1/files'
const MIME = /^[a-z0-9][a-z0-9!#$&^_.+-]{0,126}\/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$/

export function fileRoutes(router: Router, app: Homeroom): void {
  router.on('POST', FILES, async ({ req, res, url, user, body }) => {
    const caller = await user()
    const school = url.searchParams.get('school') ?? ''
    if (!SEGMENT.test(school)) throw new HttpError(400, 'bad-request', 'query parameter school must be a school id')
    if (!belongsTo(caller, school)) throw new HttpError(403, 'forbidden', `${caller.sub} is not a member of school ${school}`)
    const type = mediaType(req.headers['content-type'])
    const name = safeFilename(header(req.headers['x-filename']))
    const bytes = await body(app.config.limits.fileBytes)
    const id = randomBytes(16).toString('base64url')
    await app.store.putFile({ id, school, name, type, size: bytes.byteLength, at: Date.now(), by: caller.sub, bytes })
    sendJson(res, 201, { url: `${FILES}/${id}`, name, size: bytes.byteLength, type })
  })

  router.on('GET', `${FILES}/:id`, async (ctx) => {
    const caller = await callerOf(ctx, app)
    const file = SEGMENT.test(ctx.params.id) ? await app.store.getFile(ctx.params.id) : undefined
    if (!file) throw new HttpError(404, 'not-found', 'no such file')
    if (!belongsTo(caller, file.school)) throw new HttpError(403, 'forbidden', `${caller.sub} is not a member of school ${file.school}`)
    ctx.res.writeHead(200, {
      'Content-Type': file.type,
      'Content-Length': file.size,
      'Content-Disposition': attachment(file.name),
      'X-Content-Type-Options': 'nosniff',
      'Content-Security-Policy': "default-src 'none'; sandbox",
      'Cache-Control': 'private, max-age=3600',
    })
    ctx.res.end(Buffer.from(file.bytes.buffer, file.bytes.byteOffset, file.bytes.byteLength))
  })
}

/** Links in messages are followed by browsers that cannot set headers, so `?token=` works too. */
async function callerOf(ctx: RequestContext, app: Homeroom): Promise<Identity> {
  const token = ctx.url.searchParams.get('token')
  if (ctx.req.headers.authorization || !token) return ctx.user()
  try {
    return await app.identities.verify(token)
  } catch (error) {
    throw new HttpError(401, 'unauthenticated', (error as { reason?: string }).reason ?? 'invalid token')
  }
}

const header = (value: string | string[] | undefined): string => (Array.isArray(value) ? value[0] : value) ?? ''

function mediaType(raw: string | undefined): string {
  const type = (raw ?? '').split(';')[0].trim().toLowerCase()
  if (!MIME.test(type)) throw new HttpError(400, 'bad-request', 'Content-Type must name the file type, like image/png')
  return type
}

/** The last path segment, without control, bidirectional-override or reserved characters; at most 255 characters. */
export function safeFilename(raw: string): string {
  let name = raw
  try {
    name = decodeURIComponent(raw)
  } catch {
    // not percent-encoded: take it as it is
  }
  name = (name.normalize('NFC').split(/[\\/]/).pop() ?? '')
    .replace(/[\u0000-\u001f\u007f-\u009f"*:<>?|\u200e\u200f\u202a-\u202e\u2066-\u2069]/g, '_')
    .replace(/^[\s.]+/, '')
    .trim()
    .slice(0, 255)
  if (!name) throw new HttpError(400, 'bad-request', 'X-Filename must give the file a name')
  return name
}

function attachment(name: string): string {
  const ascii = name.replace(/[^\x20-\x7e]|["\\%]/g, '_')
  const encoded = encodeURIComponent(name).replace(/['()]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encoded}`
}
