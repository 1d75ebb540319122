// `POST /api/v1/schools/<s>/leaderboards/<board>/scores`: a back end or a teacher records scores
// on a board, each with its time and specialty; the board's totals and its period and specialty
// views follow (extensions/observers/leaderboard-views.ts). A request's `id` names its source on
// the board, so posting it again replaces its scores rather than adding them twice.
import { randomUUID } from 'node:crypto'
import { z } from 'zod'
import { SEGMENT } from '../../docs-model/names.ts'
import { userId } from '../../docs-model/common.ts'
import { leaderboardName } from '../../docs-model/surfaces/leaderboard/surface.ts'
import type { Scores } from '../../docs-model/surfaces/leaderboard/surface.ts'
import type { Homeroom } from '../homeroom.ts'
import { schoolRole, errors, HttpError, user, type Api } from '../http.ts'
import { namedScores, recordScores } from '../../extensions/observers/leaderboard.ts'

const segment = z.string().regex(SEGMENT)
const scoresBody = z.strictObject({
  /** Names this batch on the board: the same id again replaces its scores. */
  id: segment.optional(),
  scores: z
    .array(
      z.strictObject({
        user: userId,
        name: z.string().min(1).max(200).optional(),
        score: z.number().finite(),
        /** When it was scored (ISO or ms); now when left out. */
        at: z.union([z.number().int().nonnegative(), z.string().refine((v) => Number.isFinite(Date.parse(v)), 'must be an ISO time')]).optional(),
        specialty: segment.optional(),
      }),
    )
    .min(1)
    .max(10_000),
})

export function leaderboardRoutes(api: Api, app: Homeroom): void {
  api.post(
    '/api/v1/schools/:school/leaderboards/:board/scores',
    {
      bodyLimit: 2 * 1024 * 1024,
      preParsing: schoolRole('service', 'admin', 'teacher'),
      schema: {
        summary: 'Record scores (with their time and specialty) on a leaderboard; its weekly, monthly, all-time and specialty views follow',
        tags: ['leaderboards'],
        security: [{ bearer: [] }],
        params: z.object({ school: segment, board: segment }),
        body: scoresBody,
        response: { 200: z.object({ document: z.string(), source: z.string(), scores: z.number() }), ...errors(400, 401, 403, 413, 429) },
      },
    },
    async (request) => {
      const caller = user(request)
      const { school, board } = request.params
      const { id, scores } = request.body
      const users = new Set<string>()
      for (const s of scores) {
        if (users.has(s.user)) throw new HttpError(400, 'bad-request', `scores: ${s.user} appears twice; post one score per user per request`)
        users.add(s.user)
      }
      const now = app.clock.now()
      const named = await namedScores(app.store, school, scores.map((s) => [s.user, s.score]))
      const recorded: Scores = {}
      for (const s of scores) {
        recorded[s.user] = { name: s.name ?? named[s.user].name, score: s.score, at: s.at === undefined ? now : typeof s.at === 'number' ? s.at : Date.parse(s.at), ...(s.specialty ? { specialty: s.specialty } : {}) }
      }
      const source = `post:${caller.sub}:${id ?? randomUUID()}`
      await recordScores(app.hocuspocus, school, board, recorded, source, now)
      return { document: leaderboardName(school, board), source, scores: scores.length }
    },
  )
}
