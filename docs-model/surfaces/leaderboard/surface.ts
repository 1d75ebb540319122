// The leaderboard family: `s/leaderboard/<board>`, its name and the shapes of its entries and
// of the scores each source contributes.
import { z } from 'zod'
import { decodeLayout, isLearnerOrStaff } from '../../common.ts'
import { server } from '../../who.ts'
import type { Surface } from '../../types.ts'

const leaderboardEntry = z.strictObject({ name: z.string().max(200), score: z.number().finite(), rank: z.number().int().positive() })
export type LeaderboardEntry = z.infer<typeof leaderboardEntry>

/** One source's contribution (`sources/<source>`): user → their name and points, when they were scored (ms) and in which specialty. */
export type Scores = Record<string, { name: string; score: number; at?: number; specialty?: string }>

const leaderboardLayout = {
  entries: { kind: 'map', value: leaderboardEntry },
  /** Each source's (quiz, exam) scores: source id → {user: {name, score}}; `entries` sums them. */
  sources: { kind: 'map' },
  /** Views by period (`weekly`, `monthly`, `all_time`) → {from, entries}: the scores recorded since the period began. */
  periods: { kind: 'map' },
  /** Views by specialty → entries: every score recorded in that specialty. */
  specialties: { kind: 'map' },
} as const

export const leaderboardName = (school: string, board: string): string => `${school}/leaderboard/${board}`

/** `s/leaderboard/<board>`: ranks the server derives from quiz and exam results. */
export const leaderboard: Surface = {
  key: 'leaderboard',
  pattern: 'leaderboard/:board',
  layout: leaderboardLayout,
  read: (user) => isLearnerOrStaff(user),
  writes: [
    { path: 'entries', by: server },
    { path: 'sources', by: server },
    { path: 'periods', by: server },
    { path: 'specialties', by: server },
  ],
  decode: (d) => decodeLayout(leaderboardLayout, d),
}
