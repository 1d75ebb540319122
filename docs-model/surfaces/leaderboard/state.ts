// What the leaderboard family derives: each user's total over all sources, ranked, and the same
// by period (this week, this month, all time, in the school's time zone) and by specialty. Pure:
// the server records scores with it when a quiz or an exam closes or a back end posts them.
import { equalityDeep } from 'lib0/function'
import type * as Y from 'yjs'
import { record } from '../../common.ts'
import type { LeaderboardEntry, Scores } from './surface.ts'

/** Ranks every user by their total over all sources: 1, 2, 2, 4 for a tie at second place. */
export function standings(sources: Iterable<unknown>): Record<string, LeaderboardEntry> {
  const totals = new Map<string, { name: string; score: number }>()
  for (const scores of sources) {
    for (const [user, value] of Object.entries(record(scores) ?? {})) {
      const entry = record(value)
      if (!entry || typeof entry.score !== 'number' || !Number.isFinite(entry.score)) continue
      const total = totals.get(user) ?? { name: user, score: 0 }
      total.score += entry.score
      if (typeof entry.name === 'string' && entry.name) total.name = entry.name
      totals.set(user, total)
    }
  }
  const ordered = [...totals].sort(([a, x], [b, y]) => y.score - x.score || (a < b ? -1 : a > b ? 1 : 0))
  const entries: Record<string, LeaderboardEntry> = {}
  ordered.forEach(([user, { name, score }], i) => {
    const previous = i > 0 ? entries[ordered[i - 1][0]] : undefined
    entries[user] = { name, score, rank: previous && previous.score === score ? previous.rank : i + 1 }
  })
  return entries
}

/**
 * Sets `source`'s contribution and re-ranks `entries`; writes nothing where nothing changes.
 * A score without a time is stamped `at` (a user's unchanged score keeps the time it had).
 */
export function applyScores(doc: Y.Doc, source: string, scores: Scores, at: number = Date.now()): void {
  const sources = doc.getMap('sources')
  const before = record(sources.get(source)) ?? {}
  const stamped: Scores = {}
  for (const [user, entry] of Object.entries(scores)) {
    const previous = record(before[user])
    const same = previous && previous.score === entry.score && previous.name === entry.name && previous.specialty === entry.specialty
    stamped[user] = { ...entry, at: entry.at ?? (same && typeof previous.at === 'number' ? previous.at : at) }
  }
  if (!equalityDeep(sources.get(source), stamped)) sources.set(source, stamped)
  const wanted = standings(sources.values())
  const entries = doc.getMap('entries')
  for (const [user, entry] of Object.entries(wanted)) {
    if (!equalityDeep(entries.get(user), entry)) entries.set(user, entry)
  }
  for (const user of [...entries.keys()]) if (!(user in wanted)) entries.delete(user)
}

export const PERIODS = ['weekly', 'monthly', 'all_time'] as const
export type Period = (typeof PERIODS)[number]

const formats = new Map<string, Intl.DateTimeFormat>()
/** The wall-clock date and time at `t` in `timeZone`. */
function wallClock(t: number, timeZone: string): { year: number; month: number; day: number; hour: number; minute: number; second: number; weekday: number } {
  let format = formats.get(timeZone)
  if (!format) {
    format = new Intl.DateTimeFormat('en-US', { timeZone, year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric', hourCycle: 'h23', weekday: 'short' })
    formats.set(timeZone, format)
  }
  const parts = Object.fromEntries(format.formatToParts(t).map((p) => [p.type, p.value]))
  const weekday = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'].indexOf(parts.weekday)
  return { year: +parts.year, month: +parts.month, day: +parts.day, hour: +parts.hour, minute: +parts.minute, second: +parts.second, weekday }
}

/** How far `timeZone`'s wall clock is ahead of UTC at `t`. */
function offsetAt(t: number, timeZone: string): number {
  const w = wallClock(t, timeZone)
  return Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute, w.second) - Math.floor(t / 1000) * 1000
}

/** The instant of local midnight starting `year-month-day` in `timeZone` (days past the month's end roll over). */
function midnight(timeZone: string, year: number, month: number, day: number): number {
  const wall = Date.UTC(year, month - 1, day)
  const first = wall - offsetAt(wall, timeZone)
  return wall - offsetAt(first, timeZone) // again at the guess: the offset may differ there (daylight saving)
}

/** When the period holding `now` began in `timeZone`: weeks on Monday 00:00, months on the 1st, all time at 0. */
export function periodStart(period: Period, now: number, timeZone: string): number {
  if (period === 'all_time') return 0
  const w = wallClock(now, timeZone)
  return period === 'weekly' ? midnight(timeZone, w.year, w.month, w.day - w.weekday) : midnight(timeZone, w.year, w.month, 1)
}

/** The next instant after `now` at which a week or a month begins in `timeZone`. */
export function nextPeriodStart(now: number, timeZone: string): number {
  const w = wallClock(now, timeZone)
  return Math.min(midnight(timeZone, w.year, w.month, w.day - w.weekday + 7), midnight(timeZone, w.year, w.month + 1, 1))
}

type Scored = { user: string; name: string; score: number; at?: number; specialty?: string }

/** Every recorded score of every source, flat. */
function scoredOf(sources: Iterable<unknown>): Scored[] {
  const all: Scored[] = []
  for (const scores of sources) {
    for (const [user, value] of Object.entries(record(scores) ?? {})) {
      const entry = record(value)
      if (!entry || typeof entry.score !== 'number' || !Number.isFinite(entry.score)) continue
      all.push({
        user,
        name: typeof entry.name === 'string' ? entry.name : user,
        score: entry.score,
        ...(typeof entry.at === 'number' ? { at: entry.at } : {}),
        ...(typeof entry.specialty === 'string' && entry.specialty ? { specialty: entry.specialty } : {}),
      })
    }
  }
  return all
}

const ranked = (scored: Scored[]) => standings(scored.map((s) => ({ [s.user]: { name: s.name, score: s.score } })))

/** The board's views: by period (scores recorded since the period began) and by specialty. */
export function boardViews(sources: Iterable<unknown>, now: number, timeZone: string): { periods: Record<Period, { from: number; entries: Record<string, LeaderboardEntry> }>; specialties: Record<string, Record<string, LeaderboardEntry>> } {
  const scored = scoredOf(sources)
  const periods = {} as Record<Period, { from: number; entries: Record<string, LeaderboardEntry> }>
  for (const period of PERIODS) {
    const from = periodStart(period, now, timeZone)
    periods[period] = { from, entries: ranked(period === 'all_time' ? scored : scored.filter((s) => s.at !== undefined && s.at >= from)) }
  }
  const bySpecialty = new Map<string, Scored[]>()
  for (const s of scored) if (s.specialty) (bySpecialty.get(s.specialty) ?? bySpecialty.set(s.specialty, []).get(s.specialty)!).push(s)
  const specialties: Record<string, Record<string, LeaderboardEntry>> = {}
  for (const [specialty, list] of bySpecialty) specialties[specialty] = ranked(list)
  return { periods, specialties }
}

/** Writes the board's views as of `now`; writes nothing where nothing changes. */
export function applyViews(doc: Y.Doc, now: number, timeZone: string): void {
  const { periods, specialties } = boardViews(doc.getMap('sources').values(), now, timeZone)
  const periodMap = doc.getMap('periods')
  for (const [period, view] of Object.entries(periods)) if (!equalityDeep(periodMap.get(period), view)) periodMap.set(period, view)
  const specialtyMap = doc.getMap('specialties')
  for (const [specialty, entries] of Object.entries(specialties)) if (!equalityDeep(specialtyMap.get(specialty), entries)) specialtyMap.set(specialty, entries)
  for (const specialty of [...specialtyMap.keys()]) if (!(specialty in specialties)) specialtyMap.delete(specialty)
}
