// The poll family: `s/poll/<id>`, each user's ballot and a quiz's key; their names, value
// shapes, the readers the rules consult, and the writes clients make.
import { z } from 'zod'
import { decodeLayout, isLearnerOrStaff, mapOf, time } from '../../common.ts'
import { named, roles, server } from '../../who.ts'
import type { Surface, WriteContext } from '../../types.ts'
import type * as Y from 'yjs'

const pollLayout = {
  meta: {
    kind: 'map',
    value: z.union([
      z.string().max(500),
      z.array(z.string().max(200)).min(1).max(50),
      z.enum(['poll', 'quiz']),
      z.boolean(),
      time,
    ]),
  },
  tallies: { kind: 'map', value: z.number().int().nonnegative() },
  results: { kind: 'map' },
} as const

export const pollName = (school: string, poll: string): string => `${school}/poll/${poll}`
const BALLOT = '/ballot/'
export const ballotName = (school: string, poll: string, user: string): string => `${pollName(school, poll)}${BALLOT}${user}`
export const pollKeyName = (school: string, poll: string): string => `${pollName(school, poll)}/key`
export const pollResultName = (school: string, poll: string, user: string): string => `${pollName(school, poll)}/result/${user}`

/** The voter whose ballot `name` is, when it is a ballot of the poll document `poll`. */
export function ballotVoter(poll: string, name: string): string | undefined {
  return name.startsWith(poll + BALLOT) ? name.slice(poll.length + BALLOT.length) : undefined
}

export interface PollMeta {
  question?: string
  options: string[]
  kind: 'poll' | 'quiz'
  anonymous: boolean
  closesAt?: number
  /**
   * Quizzes: whether their scores feed a leaderboard (`s/leaderboard/<board>`), and which: off
   * unless the teacher sets `true` (the board named as the poll) or a board's name.
   */
  leaderboard: boolean | string
  /** The class the poll is for: its students are told of it once it has options. */
  class?: string
}

export function pollMeta(doc: Y.Doc): PollMeta {
  const meta = mapOf(doc, 'meta')
  const options = meta.get('options')
  const closesAt = meta.get('closesAt')
  const closesAtMs = closesAt === undefined ? NaN : new Date(closesAt as string | number).getTime()
  const board = meta.get('leaderboard')
  const forClass = meta.get('class')
  return {
    question: typeof meta.get('question') === 'string' ? (meta.get('question') as string) : undefined,
    options: Array.isArray(options) ? options.map(String) : [],
    kind: meta.get('kind') === 'quiz' ? 'quiz' : 'poll',
    anonymous: meta.get('anonymous') === true,
    closesAt: Number.isFinite(closesAtMs) ? closesAtMs : undefined,
    leaderboard: board === true || (typeof board === 'string' && /^[A-Za-z0-9_-]{1,64}$/.test(board) ? board : false),
    class: typeof forClass === 'string' && /^[A-Za-z0-9_-]{1,64}$/.test(forClass) ? forClass : undefined,
  }
}

/** True once the poll's `closesAt` has passed. */
export const pollClosed = (meta: PollMeta, now = Date.now()): boolean => meta.closesAt !== undefined && meta.closesAt <= now

/** A valid ballot choice: the index of one of the poll's options. */
export const isChoice = (value: unknown, meta: PollMeta): value is number =>
  typeof value === 'number' && Number.isInteger(value) && value >= 0 && value < meta.options.length

/** `s/poll/<id>`: question, options and the tallies the server derives from ballots. */
export const poll: Surface = {
  key: 'poll',
  pattern: 'poll/:poll',
  layout: pollLayout,
  read: (user) => isLearnerOrStaff(user),
  writes: [
    { path: 'meta', by: roles('teacher') },
    { path: 'tallies', by: server },
    { path: 'results', by: server },
  ],
  decode: (d) => decodeLayout(pollLayout, d),
}

const ballotLayout = {
  ballot: { kind: 'map', value: z.union([z.number().int().nonnegative(), time]) },
} as const

function ballotFrozen(ctx: WriteContext): string | null {
  const name = pollName(ctx.ref.school, ctx.ref.params.poll)
  const frozen = ctx.facts.frozen(name)
  if (frozen) return frozen
  const parent = ctx.facts.related(name)
  return parent && pollClosed(pollMeta(parent)) ? 'frozen: poll closed' : null
}

function validChoice(value: unknown, ctx: WriteContext): string | null {
  const parent = ctx.facts.related(pollName(ctx.ref.school, ctx.ref.params.poll))
  if (!parent) return null
  const meta = pollMeta(parent)
  return isChoice(value, meta) ? null : `choice must be an option index below ${meta.options.length}`
}

/** `s/poll/<id>/ballot/<user>`: one user's vote, private to them (and teachers unless anonymous). */
export const ballot: Surface = {
  key: 'poll/ballot',
  pattern: 'poll/:poll/ballot/:user',
  layout: ballotLayout,
  read: (user, ref) => user.sub === ref.params.user || (user.role === 'teacher' ? 'content' : false),
  readContent: async (user, ref, peek) => user.role === 'teacher' && !pollMeta(await peek(pollName(ref.school, ref.params.poll))).anonymous,
  related: (ref) => [pollName(ref.school, ref.params.poll)],
  writes: [
    { path: 'ballot/choice', by: named('user'), ops: ['insert'], value: validChoice, frozen: ballotFrozen },
    { path: 'ballot/at', by: named('user'), ops: ['insert'], frozen: ballotFrozen },
  ],
  decode: (d) => decodeLayout(ballotLayout, d),
}

const resultLayout = {
  result: { kind: 'map', value: z.union([z.number().finite(), z.boolean()]) },
} as const

/**
 * `s/poll/<id>/result/<user>`: one voter's quiz result `{choice, correct, points, closedAt}`, for
 * that voter and the teachers only; the poll document carries only aggregates.
 */
export const pollResult: Surface = {
  key: 'poll/result',
  pattern: 'poll/:poll/result/:user',
  layout: resultLayout,
  read: (user, ref) => user.sub === ref.params.user || user.role === 'teacher',
  writes: [{ path: 'result', by: server }],
  decode: (d) => decodeLayout(resultLayout, d),
}

const keyLayout = { key: { kind: 'map', value: z.number().int().nonnegative() } } as const

/** `s/poll/<id>/key`: a quiz's correct option, teachers only. */
export const pollKey: Surface = {
  key: 'poll/key',
  pattern: 'poll/:poll/key',
  layout: keyLayout,
  read: (user) => user.role === 'teacher',
  writes: [{ path: 'key', by: roles('teacher') }],
  decode: (d) => decodeLayout(keyLayout, d),
}

/** Casts or changes this user's vote in their ballot document (`s/poll/<id>/ballot/<user>`). */
export function vote(ballotDoc: Y.Doc, choice: number, at: number = Date.now()): void {
  ballotDoc.transact(() => {
    const ballot = ballotDoc.getMap('ballot')
    ballot.set('choice', choice)
    ballot.set('at', at)
  })
}

/** Teachers: the question and options of an open poll (no closing time unless given). */
export function setupPoll(doc: Y.Doc, question: string, options: string[], closesAt?: number): void {
  doc.transact(() => {
    const meta = doc.getMap('meta')
    meta.set('question', question)
    meta.set('options', options)
    meta.set('kind', 'poll')
    meta.set('anonymous', false)
    if (closesAt !== undefined) meta.set('closesAt', closesAt)
  })
}
