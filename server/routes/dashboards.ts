// PATCH /api/v1/dashboards/<s>/<name>: a JSON object merged key by key into the dashboard's
// `data` map, as one change that live readers receive at once. A key set to null is removed
// (JSON merge patch); keys whose value did not change are not written.
import { z } from 'zod'
import type { Homeroom } from '../homeroom.ts'
import { before, errors, HttpError, rawParams, requireRole, user, type Api } from '../http.ts'
import { serverWrite } from '../writes.ts'
import { belongsTo } from '../../docs-model/common.ts'
import { NameError } from '../../docs-model/names.ts'
import { resolve } from '../../docs-model/registry.ts'
import { dashboardName, mergeDashboard } from '../../docs-model/surfaces/dashboard/surface.ts'

const patchBody = z
  .record(z.string().min(1).max(200), z.unknown())
  .refine((v) => Object.keys(v).length <= 1000, 'at most 1000 keys per patch')

export function dashboardRoutes(api: Api, app: Homeroom): void {
  api.patch(
    '/api/v1/dashboards/:school/:name',
    {
      preParsing: before((request) => {
        const caller = user(request)
        requireRole(caller, 'service', 'admin')
        const { school, name } = rawParams(request)
        documentName(school, name)
        if (!belongsTo(caller, school)) throw new HttpError(403, 'forbidden', `${caller.sub} is not a member of school ${school}`)
      }),
      schema: {
        summary: "Merge a JSON object key by key into a dashboard's data map (null removes a key); live readers see it at once",
        tags: ['dashboards'],
        security: [{ bearer: [] }],
        params: z.object({ school: z.string(), name: z.string() }),
        body: patchBody,
        response: { 200: z.object({ document: z.string(), changed: z.array(z.string()) }), ...errors(400, 401, 403, 413, 429) },
      },
    },
    async (request) => {
      const caller = user(request)
      const name = documentName(request.params.school, request.params.name)
      const patch = request.body
      let changed: string[] = []
      await serverWrite(app.hocuspocus, name, (doc) => (changed = mergeDashboard(doc, patch)), caller)
      return { document: name, changed }
    },
  )
}

function documentName(school: string, dashboard: string): string {
  const name = dashboardName(school, dashboard)
  try {
    resolve(name)
  } catch (error) {
    if (error instanceof NameError) throw new HttpError(400, 'bad-request', error.reason)
    throw error
  }
  return name
}
