// The HTTP document view: `GET /api/v1/docs/<name>[?at=<time>]` decodes a document (live, or as
// it was at a past time), and `POST /api/v1/docs/<name>/restore` makes a document equal its past
// state as a new change applied to the live copy, so connected clients receive it.
import { NameError } from '../../docs-model/names.ts'
import { resolve } from '../../docs-model/registry.ts'
import type { DocRef, Identity, Surface } from '../../docs-model/types.ts'
import type { Homeroom } from '../app.ts'
import { HttpError, requireRole, sendJson, type Router } from '../http.ts'
import { historyBounds, iso, parseTime, restoreInto, stateAt, TimeTravelError } from '../timetravel.ts'
import { serverWrite } from '../writes.ts'

function resolveName(name: string): { ref: DocRef; surface: Surface } {
  try {
    return resolve(name)
  } catch (error) {
    if (error instanceof NameError) throw new HttpError(error.code === 'bad-name' ? 400 : 404, error.code, error.message)
    throw error
  }
}

/** Admins and directors see their own schools' documents; services every school they hold. */
function requireSchool(user: Identity, ref: DocRef): void {
  if (!user.schools.includes('*') && !user.schools.includes(ref.school)) {
    throw new HttpError(403, 'forbidden', `${user.sub} does not belong to school ${ref.school}`)
  }
}

function timeTravelHttpError(error: unknown): never {
  if (error instanceof TimeTravelError) throw new HttpError(error.code === 'not-found' ? 404 : 400, error.code, error.message)
  throw error
}

function parseAt(value: unknown): number {
  if (typeof value !== 'string' || value === '') throw new HttpError(400, 'bad-request', "'at' must be an ISO time such as 2026-05-01T08:00:00Z")
  try {
    return parseTime(value)
  } catch (error) {
    return timeTravelHttpError(error)
  }
}

export function docsRoutes(router: Router, app: Homeroom): void {
  router.on('GET', '/api/v1/docs/*name', async ({ res, url, params, user }) => {
    const caller = await user()
    requireRole(caller, 'admin', 'director', 'service')
    const { ref, surface } = resolveName(params.name)
    requireSchool(caller, ref)
    const at = url.searchParams.has('at') ? parseAt(url.searchParams.get('at')) : undefined
    const live = at === undefined ? app.hocuspocus.documents.get(ref.name) : undefined
    if (live && (await historyBounds(app.store, ref.name)).exists) return sendJson(res, 200, surface.decode(live))
    const doc = await stateAt(app.store, ref.name, at).catch(timeTravelHttpError)
    try {
      sendJson(res, 200, surface.decode(doc))
    } finally {
      doc.destroy()
    }
  })

  router.on('POST', '/api/v1/docs/*target', async ({ res, params, user, json }) => {
    const caller = await user()
    requireRole(caller, 'admin', 'service')
    const segments = params.target.split('/')
    if (segments.pop() !== 'restore') throw new HttpError(404, 'not-found', `no route POST /api/v1/docs/${params.target}`)
    const { ref, surface } = resolveName(segments.join('/'))
    requireSchool(caller, ref)
    const body = (await json(4096)) as { at?: unknown } | null
    const at = parseAt(body?.at)
    const past = await stateAt(app.store, ref.name, at).catch(timeTravelHttpError)
    try {
      const bounds = await historyBounds(app.store, ref.name)
      await serverWrite(app.hocuspocus, ref.name, (doc) => restoreInto(doc, past, surface), caller)
      app.log.info({ doc: ref.name, at: iso(at), by: caller.sub }, 'document restored')
      sendJson(res, 200, { name: ref.name, restoredTo: iso(at), historyStart: bounds.start > 0 ? iso(bounds.start) : null })
    } finally {
      past.destroy()
    }
  })
}
