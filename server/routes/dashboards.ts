// PATCH /api/v1/dashboards/<s>/<name>: a JSON object merged key by key into the dashboard's
// `data` map, as one change that live readers receive at once. A key set to null is removed
// (JSON merge patch); keys whose value did not change are not written.
import { z } from 'zod'
import type { Homeroom } from '../app.ts'
import { HttpError, requireRole, sendJson, type Router } from '../http.ts'
import { serverWrite } from '../writes.ts'
import { belongsTo } from '../../extensions/auth.ts'
import { NameError } from '../../docs-model/names.ts'
import { resolve } from '../../docs-model/registry.ts'
import { parseBody } from './validate.ts'

const patchBody = z
  .record(z.string().min(1).max(200), z.unknown())
  .refine((v) => Object.keys(v).length <= 1000, 'at most 1000 keys per patch')

export function dashboardRoutes(router: Router, app: Homeroom): void {
  router.on('PATCH', '/api/v1/dashboards/:school/:name', async ({ params, res, user, json }) => {
    const caller = await user()
    requireRole(caller, 'service', 'admin')
    const name = documentName(params.school, params.name)
    if (!belongsTo(caller, params.school)) throw new HttpError(403, 'forbidden', `${caller.sub} is not a member of school ${params.school}`)
    const body = await json(1024 * 1024)
    if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new HttpError(400, 'bad-request', 'body must be a JSON object')
    const patch = parseBody(patchBody, body)
    const changed: string[] = []
    await serverWrite(
      app.hocuspocus,
      name,
      (doc) => {
        const data = doc.getMap('data')
        for (const [key, value] of Object.entries(patch)) {
          if (value === null) {
            if (!data.has(key)) continue
            data.delete(key)
            changed.push(key)
          } else if (JSON.stringify(data.get(key)) !== JSON.stringify(value)) {
            data.set(key, value)
            changed.push(key)
          }
        }
      },
      caller,
    )
    sendJson(res, 200, { document: name, changed })
  })
}

function documentName(school: string, dashboard: string): string {
  const name = `${school}/dashboard/${dashboard}`
  try {
    resolve(name)
  } catch (error) {
    if (error instanceof NameError) throw new HttpError(400, 'bad-request', error.reason)
    throw error
  }
  return name
}
