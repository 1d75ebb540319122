// GET /api/v1/buses/<s>/<bus>/trail?since=<ISO>: a bus's recorded fixes, oldest first, for the
// users who may open that bus's document.
import type { Homeroom } from '../app.ts'
import { HttpError, sendJson, type Router } from '../http.ts'
import { belongsTo } from '../../extensions/auth.ts'
import { resolve } from '../../docs-model/registry.ts'
import { NameError } from '../../docs-model/names.ts'
import { toMillis } from '../../extensions/observers/runtime.ts'

/** At most this many points per response; page with `since` = the last point's time. */
export const TRAIL_LIMIT = 100_000
const DAY_MS = 24 * 3600 * 1000

export function busRoutes(router: Router, app: Homeroom): void {
  router.on('GET', '/api/v1/buses/:school/:bus/trail', async ({ params, url, res, user }) => {
    const caller = await user()
    let parsed
    try {
      parsed = resolve(`${params.school}/bus/${params.bus}`)
    } catch (error) {
      if (error instanceof NameError) throw new HttpError(400, 'bad-request', error.reason)
      throw error
    }
    const { ref, surface } = parsed
    const reader = caller.role === 'admin' || caller.role === 'director' || surface.read(caller, ref) === true
    if (!belongsTo(caller, ref.school) || !reader) throw new HttpError(403, 'forbidden', `${caller.sub} may not read bus ${params.bus}`)
    const sinceParam = url.searchParams.get('since')
    const since = sinceParam === null ? Date.now() - DAY_MS : toMillis(/^\d+$/.test(sinceParam) ? Number(sinceParam) : sinceParam)
    if (since === undefined) throw new HttpError(400, 'bad-request', 'since must be an ISO time or milliseconds since the epoch')
    const points = await app.store.trail(`${ref.school}/${ref.params.bus}`, since)
    sendJson(res, 200, points.slice(0, TRAIL_LIMIT).map(({ lat, lng, speed, heading, at }) => ({ lat, lng, speed, heading, at: new Date(at).toISOString() })))
  })
}
