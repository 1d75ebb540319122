// The HTTP document view: `GET /api/v1/docs/<name>[?at=<time>]` decodes a document (live, or as
// it was at a past time), and `POST /api/v1/docs/<name>/restore` makes a document equal its past
// state as a new change applied to the live copy, so connected clients receive it.
// `GET /api/v1/docs/<conversation>/messages` pages a conversation's history (routes/messages.ts);
// `GET …/<name>/history` and `…/<name>/contributions` a document's changes and who wrote what
// (routes/doc-history.ts). Who may look back and restore: docs-model/history-access.ts.
import { NameError } from '../../docs-model/names.ts'
import { resolve } from '../../docs-model/registry.ts'
import type { DocRef, Identity, Surface } from '../../docs-model/types.ts'
import type { Homeroom } from '../homeroom.ts'
import { z } from 'zod'
import { before, errors, HttpError, rawParams, requireRole, user, type Api } from '../http.ts'
import { stateAt } from '../history/replay.ts'
import { restoreInto } from '../history/restore.ts'
import { historyBounds, iso, parseTime, TimeTravelError } from '../history/time.ts'
import { serverWrite } from '../writes.ts'
import { conversationOf, messagesPage, messagesQuery } from './messages.ts'
import { contributionsView, docViewOf, historyPage } from './doc-history.ts'
import { historyRefusal, mayReadHistory, mayRestore } from '../../docs-model/history-access.ts'

function resolveName(name: string): { ref: DocRef; surface: Surface } {
  try {
    return resolve(name)
  } catch (error) {
    if (error instanceof NameError) throw new HttpError(error.code === 'bad-name' ? 400 : 404, error.code, error.message)
    throw error
  }
}

/** Admins, directors and services see their schools' documents; teachers their class documents and the docs and boards they may read. */
function requireHistoryReader(user: Identity, ref: DocRef, surface: Surface): void {
  if (!mayReadHistory(user, ref, surface)) throw new HttpError(403, 'forbidden', historyRefusal(user, ref))
}

function timeTravelHttpError(error: unknown): never {
  if (error instanceof TimeTravelError) throw new HttpError(error.code === 'not-found' ? 404 : 400, error.code, error.message)
  throw error
}

/** An ISO time, `-15m` and the like, or milliseconds since 1970 (what a client's clock gives). */
function parseAt(value: unknown): number {
  if (typeof value !== 'string' || value === '') throw new HttpError(400, 'bad-request', "'at' must be an ISO time such as 2026-05-01T08:00:00Z")
  if (/^\d{1,15}$/.test(value)) return Number(value)
  try {
    return parseTime(value)
  } catch (error) {
    return timeTravelHttpError(error)
  }
}

const docParams = z.object({ '*': z.string().describe('the document name, e.g. s1/doc/essay') })
const atQuery = z
  .object({ at: z.string().optional().describe('ISO time or milliseconds: the document (or its contributions) as it was then') })
  .extend(messagesQuery.shape)
const restoreBody = z.object({ at: z.unknown().describe('ISO time to restore to, e.g. 2026-05-01T08:00:00Z') })

export function docsRoutes(api: Api, app: Homeroom): void {
  api.get(
    '/api/v1/docs/*',
    {
      // A conversation's messages are for its readers; the decoded document, its history and contributions for those who may look back (history-access.ts).
      preParsing: before((request) => {
        if (!conversationOf(rawParams(request)['*'])) requireRole(user(request), 'admin', 'director', 'service', 'teacher')
      }),
      schema: {
        summary:
          'A document decoded to JSON, now or at a past time; <name>/history: its stored changes, newest first; <name>/contributions: who wrote what; <conversation>/messages: a page of its messages',
        tags: ['documents'],
        security: [{ bearer: [] }],
        params: docParams,
        querystring: atQuery,
        response: { 200: z.unknown().describe('the decoded document'), ...errors(400, 401, 403, 404, 429) },
      },
    },
    async (request) => {
      const caller = user(request)
      const conversation = conversationOf(request.params['*'])
      if (conversation) return messagesPage(app, caller, conversation, request.query)
      const view = docViewOf(request.params['*'])
      const { ref, surface } = resolveName(view?.name ?? request.params['*'])
      requireHistoryReader(caller, ref, surface)
      const at = request.query.at !== undefined ? parseAt(request.query.at) : undefined
      if (view?.view === 'history') return historyPage(app.store, ref.name, request.query).catch(timeTravelHttpError)
      if (view?.view === 'contributions') return contributionsView(app, ref.name, at).catch(timeTravelHttpError)
      const live = at === undefined ? app.hocuspocus.documents.get(ref.name) : undefined
      if (live && (await historyBounds(app.store, ref.name)).exists) return surface.decode(live)
      const doc = await stateAt(app.store, ref.name, at).catch(timeTravelHttpError)
      try {
        return surface.decode(doc)
      } finally {
        doc.destroy()
      }
    },
  )

  api.post(
    '/api/v1/docs/*',
    {
      bodyLimit: 4096,
      config: { openapiPath: '/api/v1/docs/{name}/restore' },
      preParsing: before((request) => {
        requireRole(user(request), 'admin', 'service', 'teacher')
        if (!rawParams(request)['*'].endsWith('/restore')) throw new HttpError(404, 'not-found', `no route POST /api/v1/docs/${rawParams(request)['*']}`)
      }),
      schema: {
        summary: 'Make the document equal its state at a past time, as a new change live clients receive',
        tags: ['documents'],
        security: [{ bearer: [] }],
        params: docParams,
        body: restoreBody,
        response: { 200: z.object({ name: z.string(), restoredTo: z.string(), historyStart: z.string().nullable() }), ...errors(400, 401, 403, 404, 413, 429) },
      },
    },
    async (request) => {
      const caller = user(request)
      const segments = request.params['*'].split('/')
      segments.pop() // 'restore'
      const { ref, surface } = resolveName(segments.join('/'))
      if (!mayRestore(caller, ref, surface)) throw new HttpError(403, 'forbidden', `${caller.sub} may not restore ${ref.name}: admins and services of its school, and teachers their docs and boards, may`)
      const at = parseAt(request.body?.at)
      const past = await stateAt(app.store, ref.name, at).catch(timeTravelHttpError)
      try {
        const bounds = await historyBounds(app.store, ref.name)
        await serverWrite(app.hocuspocus, ref.name, (doc) => restoreInto(doc, past, surface), caller)
        app.log.info({ doc: ref.name, at: iso(at), by: caller.sub }, 'document restored')
        return { name: ref.name, restoredTo: iso(at), historyStart: bounds.start > 0 ? iso(bounds.start) : null }
      } finally {
        past.destroy()
      }
    },
  )
}
