import { z } from 'zod'
import { decodeLayout, isLearnerOrStaff, mapOf } from '../../common.ts'
import { roles } from '../../who.ts'
import type { Surface, WriteContext } from '../../types.ts'

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

const locked = (ctx: WriteContext): string | null => (mapOf(ctx.doc, 'meta').get('locked') === true ? 'frozen: board locked' : null)

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
