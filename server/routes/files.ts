// File attachments for chat messages. POST /api/v1/files?school=<s> stores the raw body (at most
// MAX_FILE_BYTES) with its type and a sanitised name; GET on the returned url serves it to members
// of that school only, always as a download (attachment, nosniff, sandboxed), never inline.
import { randomBytes } from 'node:crypto'
import type { Homeroom } from '../homeroom.ts'
import { z } from 'zod'
import { before, errors, HttpError, user, type Api } from '../http.ts'
import { belongsTo } from '../../docs-model/common.ts'
import { SEGMENT } from '../../docs-model/names.ts'

const FILES = '/api/v1/files'
const MIME = /^[a-z0-9][a-z0-9!#$&^_.+-]{0,126}\/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$/

const uploadQuery = z.object({ school: z.string().describe('the school the file belongs to') })

export function fileRoutes(api: Api, app: Homeroom): void {
  // Uploads are raw bytes of any type: this scope reads every body as a Buffer, up to MAX_FILE_BYTES.
  api.removeAllContentTypeParsers()
  api.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: app.config.limits.fileBytes }, (_request, body, done) => done(null, body))

  api.post(
    FILES,
    {
      bodyLimit: app.config.limits.fileBytes,
      // Every check before a byte of the upload is read.
      preParsing: before((request) => {
        const caller = user(request)
        const school = (request.query as { school?: string }).school ?? ''
        if (!SEGMENT.test(school)) throw new HttpError(400, 'bad-request', 'query parameter school must be a school id')
        if (!belongsTo(caller, school)) throw new HttpError(403, 'forbidden', `${caller.sub} is not a member of school ${school}`)
        mediaType(request.headers['content-type'])
        safeFilename(header(request.headers['x-filename']))
      }),
      schema: {
        summary: "Upload a file for a chat message's `file`: the raw body, with Content-Type and X-Filename",
        tags: ['files'],
        security: [{ bearer: [] }],
        querystring: uploadQuery,
        headers: z.looseObject({ 'x-filename': z.string().optional().describe('the file name (percent-encoded when not ASCII)') }),
        consumes: ['application/octet-stream'],
        body: z.any().describe('the file bytes (any type, named by Content-Type)'),
        response: { 201: z.object({ url: z.string(), name: z.string(), size: z.number(), type: z.string() }), ...errors(400, 401, 403, 413, 429) },
      },
    },
    async (request, reply) => {
      const caller = user(request)
      const school = request.query.school
      const type = mediaType(request.headers['content-type'])
      const name = safeFilename(header(request.headers['x-filename']))
      const bytes = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0)
      const id = randomBytes(16).toString('base64url')
      await app.store.putFile({ id, school, name, type, size: bytes.byteLength, at: Date.now(), by: caller.sub, bytes })
      return reply.code(201).send({ url: `${FILES}/${id}`, name, size: bytes.byteLength, type })
    },
  )

  api.get(
    `${FILES}/:id`,
    {
      // Links in messages are followed by browsers that cannot set headers, so `?token=` works too.
      config: { queryToken: true },
      schema: {
        summary: 'Download an uploaded file (members of its school), always as an attachment',
        tags: ['files'],
        security: [{ bearer: [] }],
        params: z.object({ id: z.string() }),
        querystring: z.object({ token: z.string().optional().describe('the bearer token, for links followed by browsers') }),
        response: {
          200: { description: 'the file, with its type; Content-Disposition: attachment', content: { 'application/octet-stream': { schema: z.any().describe('the bytes') } } },
          ...errors(401, 403, 404, 429),
        },
      },
    },
    async (request, reply) => {
      const caller = user(request)
      const { id } = request.params
      const file = SEGMENT.test(id) ? await app.store.getFile(id) : undefined
      if (!file) throw new HttpError(404, 'not-found', 'no such file')
      if (!belongsTo(caller, file.school)) throw new HttpError(403, 'forbidden', `${caller.sub} is not a member of school ${file.school}`)
      return reply
        .headers({
          'Content-Type': file.type,
          'Content-Disposition': attachment(file.name),
          'X-Content-Type-Options': 'nosniff',
          'Content-Security-Policy': "default-src 'none'; sandbox",
          'Cache-Control': 'private, max-age=3600',
        })
        .send(Buffer.from(file.bytes.buffer, file.bytes.byteOffset, file.bytes.byteLength))
    },
  )
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
