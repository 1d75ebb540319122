// The school a chaos run simulates: who is in it (the roster and each user's token claims), the
// documents they share, and the set-up a teacher, an admin and a driver make before the day starts.
import * as Y from 'yjs'
import type { Claims } from '../../server/identity.ts'
import type { RosterMember } from '../../server/store/types.ts'
import { docName } from '../../docs-model/surfaces/doc/surface.ts'
import { chatName } from '../../docs-model/surfaces/chat/surface.ts'
import { pollName, setupPoll } from '../../docs-model/surfaces/poll/surface.ts'
import { examKeyName, examMonitorName, examName } from '../../docs-model/surfaces/exam/surface.ts'
import { busName } from '../../docs-model/surfaces/bus/surface.ts'
import { Actor } from './actor.ts'

export const SCHOOL = 's1'
export const CLASS = '7a'
export const BUS = 'b1'
export const POLL_OPTIONS = ['red', 'green', 'blue', 'yellow']
/** The exam's key: question index → correct choice (three choices each). */
export const EXAM_KEY = [2, 0, 1, 1, 2]

export const names = {
  essays: ['essay-1', 'essay-2', 'essay-3'].map((id) => docName(SCHOOL, id)),
  chat: chatName(SCHOOL, 'class-7a'),
  poll: pollName(SCHOOL, 'colour'),
  exam: examName(SCHOOL, 'algebra'),
  examKey: examKeyName(SCHOOL, 'algebra'),
  monitor: examMonitorName(SCHOOL, 'algebra'),
  bus: busName(SCHOOL, BUS),
}
export const EXAM_ID = 'algebra'
export const POLL_ID = 'colour'

export interface School {
  roster: RosterMember[]
  students: Actor[]
  teacher: Actor
  proctor: Actor
  admin: Actor
  director: Actor
  driver: Actor
  all: Actor[]
}

export function school(studentCount: number): School {
  const studentIds = Array.from({ length: studentCount }, (_, i) => `u${String(i + 1).padStart(2, '0')}`)
  const roster: RosterMember[] = [
    ...studentIds.map((id) => ({ id, name: `Student ${id}`, role: 'student', classes: [CLASS] })),
    { id: 't1', name: 'Teacher', role: 'teacher', classes: [CLASS] },
    { id: 'pr1', name: 'Proctor', role: 'proctor', classes: [CLASS] },
    { id: 'a1', name: 'Admin', role: 'admin' },
    { id: 'dir1', name: 'Director', role: 'director' },
    { id: 'd1', name: 'Driver', role: 'driver', buses: [BUS] },
  ]
  const claims = (member: RosterMember): Claims => ({ sub: member.id, role: member.role as Claims['role'], schools: [SCHOOL], name: member.name, ...(member.classes ? { classes: member.classes } : {}), ...(member.buses ? { buses: member.buses } : {}) })
  const actors = new Map(roster.map((m) => [m.id, new Actor(claims(m))]))
  return {
    roster,
    students: studentIds.map((id) => actors.get(id)!),
    teacher: actors.get('t1')!,
    proctor: actors.get('pr1')!,
    admin: actors.get('a1')!,
    director: actors.get('dir1')!,
    driver: actors.get('d1')!,
    all: [...actors.values()],
  }
}

/** The teacher's and admin's preparations: essays with a first paragraph, the poll, the exam (open for `examSeconds`) and its key, the bus route. */
export async function prepare(s: School, examSeconds: number): Promise<void> {
  const t = s.teacher
  for (const essay of names.essays) {
    await t.open(essay)
    t.write(essay, (doc) => {
      const paragraph = new Y.XmlElement('paragraph')
      paragraph.insert(0, [new Y.XmlText('')])
      doc.getXmlFragment('body').insert(0, [paragraph])
    })
  }
  await t.open(names.poll)
  t.write(names.poll, (doc) => setupPoll(doc, 'Favourite colour?', POLL_OPTIONS))
  await t.open(names.examKey)
  t.write(names.examKey, (doc) => EXAM_KEY.forEach((choice, q) => doc.getMap('key').set(String(q), choice)))
  await t.open(names.exam)
  t.write(names.exam, (doc) => {
    EXAM_KEY.forEach((_, q) => doc.getArray('questions').push([{ prompt: `Question ${q + 1}`, choices: ['a', 'b', 'c'] }]))
    const meta = doc.getMap('meta')
    meta.set('title', 'Algebra')
    meta.set('startsAt', Date.now())
    meta.set('durationSec', examSeconds)
  })
}

/** The text a student types into: the essay's first paragraph. */
export function essayText(doc: Y.Doc): Y.XmlText | undefined {
  const paragraph = doc.getXmlFragment('body').get(0)
  const text = paragraph instanceof Y.XmlElement ? paragraph.get(0) : undefined
  return text instanceof Y.XmlText ? text : undefined
}
