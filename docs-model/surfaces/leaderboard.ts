import { z } from 'zod'
import { decodeLayout, isLearnerOrStaff } from '../common.ts'
import { server } from '../who.ts'
import type { Surface } from '../types.ts'

const leaderboardLayout = {
  entries: { kind: 'map', value: z.object({ name: z.string().max(200), score: z.number().finite(), rank: z.number().int().positive() }) },
} as const

/** `s/leaderboard/<board>`: ranks the server derives from quiz and exam results. */
export const leaderboard: Surface = {
  key: 'leaderboard',
  pattern: 'leaderboard/:board',
  layout: leaderboardLayout,
  read: (user) => isLearnerOrStaff(user),
  writes: [{ path: 'entries', by: server }],
  decode: (d) => decodeLayout(leaderboardLayout, d),
}
