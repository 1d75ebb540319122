// Who may look back at a document (its past states, its history of changes, who wrote what)
// and who may restore it. The HTTP routes and the playground decide with these, so they agree.
// Students never see history: it names every author, and a student may only see their own.
import { belongsTo } from './common.ts'
import { readDecision } from './rules.ts'
import type { DocRef, Identity, Surface } from './types.ts'

/** The families a teacher may look back at and restore when they may read the document. */
const TEACHER_FAMILIES = ['doc', 'board']

/** Admins, directors and services of the school: every document of it. */
const administers = (user: Identity, ref: DocRef): boolean =>
  (user.role === 'admin' || user.role === 'director' || user.role === 'service') && belongsTo(user, ref.school)

/** A teacher's class document, or an `s/doc` or `s/board` they may read. */
const teachersOwn = (user: Identity, ref: DocRef, surface: Surface): boolean => {
  if (user.role !== 'teacher' || !belongsTo(user, ref.school)) return false
  if (ref.surface === 'class') return user.classes.includes(ref.params.class)
  return TEACHER_FAMILIES.includes(ref.surface) && readDecision(surface, user, ref) === true
}

/** May `user` read the past states, history and contributions of `ref`? */
export function mayReadHistory(user: Identity, ref: DocRef, surface: Surface): boolean {
  return administers(user, ref) || teachersOwn(user, ref, surface)
}

/** May `user` restore `ref` to a past state? Admins and services of its school; teachers their boards and docs (not class documents, which the server keeps). */
export function mayRestore(user: Identity, ref: DocRef, surface: Surface): boolean {
  if (user.role === 'admin' || user.role === 'service') return belongsTo(user, ref.school)
  return teachersOwn(user, ref, surface) && ref.surface !== 'class'
}

/** Why `user` may not read the history of `ref`, for the refusal. */
export function historyRefusal(user: Identity, ref: DocRef): string {
  if (!belongsTo(user, ref.school)) return `${user.sub} does not belong to school ${ref.school}`
  if (user.role === 'teacher') return `teachers may look back at documents of their classes and at docs and boards they may read; ${ref.name} is neither`
  return `role ${user.role} may not see the history of ${ref.name}: it names every author`
}
