// GET /api/v1/buses/<s>/<bus>/trail?since=<ISO>: a bus's recorded fixes, oldest first, for the
// users who may open that bus's document.
import type { Homeroom } from '../homeroom.ts'
import { z } from 'zod'
import { errors, HttpError, user, type Api } from '../http.ts'
import { belongsTo, toMillis } from '../../docs-model/common.ts'
import { busName, busTrailKey } from '../../docs-model/surfaces/bus/surface.ts'
import { resolve } from '../../docs-model/registry.ts'
import { NameError } from '../../docs-model/names.ts'
import { readDecision } from '../../docs-model/rules.ts'

/** At most this many points per response; page with `since` = the last point's time. */
export const TRAIL_LIMIT = 100_000
const DAY_MS = 24 * 3600 * 1000

export function busRoutes(api: Api, app: Homeroom): void {
  api.get(
    '/api/v1/buses/:school/:bus/trail',
    {
      schema: {
        summary: "A bus's recorded fixes since a time (default: the last 24 hours), oldest first, at most 100000",
        tags: ['buses'],
        security: [{ bearer: [] }],
        params: z.object({ school: z.string(), bus: z.string() }),
        querystring: z.object({ since: z.string().optional().describe('ISO time, or milliseconds since the epoch') }),
        response: {
          200: z.array(z.object({ lat: z.number(), lng: z.number(), speed: z.number(), heading: z.number(), at: z.string() })),
          ...errors(400, 401, 403, 429),
        },
      },
    },
    async (request) => {
      const caller = user(request)
      const { params } = request
      let parsed
      try {
        parsed = resolve(busName(params.school, params.bus))
      } catch (error) {
        if (error instanceof NameError) throw new HttpError(400, 'bad-request', error.reason)
        throw error
      }
      const { ref, surface } = parsed
      const reader = readDecision(surface, caller, ref) === true
      if (!belongsTo(caller, ref.school) || !reader) throw new HttpError(403, 'forbidden', `${caller.sub} may not read bus ${params.bus}`)
      const sinceParam = request.query.since
      const since = sinceParam === undefined ? Date.now() - DAY_MS : toMillis(/^\d+$/.test(sinceParam) ? Number(sinceParam) : sinceParam)
      if (since === undefined) throw new HttpError(400, 'bad-request', 'since must be an ISO time or milliseconds since the epoch')
      const points = await app.store.trail(busTrailKey(ref.school, ref.params.bus), since)
      return points.slice(0, TRAIL_LIMIT).map(({ lat, lng, speed, heading, at }) => ({ lat, lng, speed, heading, at: new Date(at).toISOString() }))
    },
  )
}
