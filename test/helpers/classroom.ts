// Helpers for the classroom and communication tests: a teacher's poll, an exam under way, many
// students at once, and waiting on a map of a client's document.
import type * as Y from 'yjs'
import { connect, DEADLINE_MS, until, within, type Client } from './clients.ts'
import { mintToken, student, teacher } from './tokens.ts'
import type { Claims } from '../../server/identity.ts'

/** Students `u1`..`u<n>` of class `7a`. */
export const students = (n: number, extra: Partial<Claims> = {}): Claims[] =>
  Array.from({ length: n }, (_, i) => student(`u${i + 1}`, { classes: ['7a'], ...extra }))

export const classTeacher = (sub = 't1'): Claims => teacher(sub, { classes: ['7a'] })

export interface PollSetup {
  question?: string
  options: string[]
  kind?: 'poll' | 'quiz'
  anonymous?: boolean
  closesAt?: number
  /** Off unless set: `true` ranks on the poll's own board, a name on that board. */
  leaderboard?: boolean | string
}

/** The teacher writes the poll's meta through their client and waits for the acknowledgement. */
export async function createPoll(teacherClient: Client, setup: PollSetup): Promise<void> {
  const meta = teacherClient.doc.getMap('meta')
  teacherClient.doc.transact(() => {
    meta.set('question', setup.question ?? 'Which one?')
    meta.set('options', setup.options)
    meta.set('kind', setup.kind ?? 'poll')
    meta.set('anonymous', setup.anonymous ?? false)
    if (setup.closesAt !== undefined) meta.set('closesAt', setup.closesAt)
    if (setup.leaderboard !== undefined) meta.set('leaderboard', setup.leaderboard)
  })
  await teacherClient.acknowledged()
}

/** Teacher t1 writes the exam `name` on the server at `url`: `questions` two-choice questions, open since a second ago, for an hour. */
export async function openExam(url: string, name: string, questions = 1): Promise<void> {
  const exam = connect(url, name, await mintToken(teacher('t1')))
  await within(exam.synced, DEADLINE_MS, `${name} sync`)
  exam.doc.transact(() => {
    exam.doc.getArray('questions').push(Array.from({ length: questions }, (_, q) => ({ prompt: `Q${q}`, choices: ['a', 'b'] })))
    exam.doc.getMap('meta').set('startsAt', new Date(Date.now() - 1000).toISOString())
    exam.doc.getMap('meta').set('durationSec', 3600)
  })
  await exam.acknowledged()
  exam.destroy()
}

/** Waits until the map `root` of the client's document equals `expected` (compared as JSON). */
export async function mapEquals(doc: Y.Doc, root: string, expected: Record<string, unknown>, timeoutMs = 10_000): Promise<void> {
  const want = JSON.stringify(sortKeys(expected))
  const have = () => JSON.stringify(sortKeys(doc.getMap(root).toJSON()))
  try {
    await until(() => have() === want, { timeout: timeoutMs, what: `${root} = ${want}` })
  } catch (error) {
    throw new Error(`${(error as Error).message}; have ${have()}`)
  }
}

function sortKeys(value: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(value).sort(([a], [b]) => (a < b ? -1 : 1)))
}

