// The board family: `s/board/<id>`, the shape of an element, the lock the rules consult, and
// the write that draws. Screen-share signaling on boards is extensions/signaling.ts.
import { z } from 'zod'
import { decodeLayout, isLearnerOrStaff, mapOf, newId } from '../../common.ts'
import { roles } from '../../who.ts'
import type { Surface, WriteContext } from '../../types.ts'
import type * as Y from 'yjs'

export const boardName = (school: string, id: string): string => `${school}/board/${id}`

const coordinate = z.number().finite()

export const boardElement = z.strictObject({
  kind: z.string().max(32),
  points: z.array(coordinate).max(20000).optional(),
  x: coordinate.optional(),
  y: coordinate.optional(),
  w: coordinate.optional(),
  h: coordinate.optional(),
  text: z.string().max(4000).optional(),
  color: z.string().max(32),
  z: coordinate,
})
export type BoardElement = z.infer<typeof boardElement>

const layout = {
  elements: { kind: 'map', value: boardElement },
  meta: { kind: 'map', value: z.union([z.string().max(200), z.boolean()]) },
} as const

/** A locked board takes no student elements. */
export const isLocked = (doc: Y.Doc): boolean => mapOf(doc, 'meta').get('locked') === true

const locked = (ctx: WriteContext): string | null => (isLocked(ctx.doc) ? 'frozen: board locked' : null)

/** `s/board/<id>`: a whiteboard; screen-share signaling travels as stateless messages. */
export const board: Surface = {
  key: 'board',
  pattern: 'board/:id',
  layout,
  read: (user) => isLearnerOrStaff(user),
  writes: [
    { path: 'elements/$self:*', by: roles('student'), frozen: locked },
    { path: 'elements/*', by: roles('teacher') },
    { path: 'meta', by: roles('teacher') },
  ],
  decode: (d) => decodeLayout(layout, d),
}

/** A new key for an element of `user`'s: `<user>:<id>`, the part of the board they own. */
export const elementKey = (user: string): string => `${user}:${newId()}`

/** Draws `element` under `key`, above everything drawn before. */
export function drawElement(doc: Y.Doc, key: string, element: Omit<BoardElement, 'z'>): void {
  doc.getMap('elements').set(key, { ...element, z: Date.now() })
}
