import { z } from 'zod'
import { decodeLayout, isLearnerOrStaff, time } from '../../common.ts'
import { readers, roles } from '../../who.ts'
import type { Surface } from '../../types.ts'

/** A position in the ProseMirror document (`body`). */
const position = z.number().int().nonnegative()
/** Where a comment points: one position, or the range it was made on. */
export const commentAnchor = z.union([position, z.strictObject({ from: position, to: position })])
export type CommentAnchor = z.infer<typeof commentAnchor>

export const docComment = z.strictObject({ text: z.string().max(4000), anchor: commentAnchor.optional(), at: time, resolved: z.boolean().optional() })
export type DocComment = z.infer<typeof docComment>

const layout = {
  body: { kind: 'xml' },
  comments: { kind: 'map', value: docComment },
  meta: { kind: 'map', value: z.union([z.string().max(200), z.number().finite(), z.boolean()]) },
} as const

/** `s/doc/<id>`: a collaborative rich-text document (ProseMirror/Tiptap). */
export const doc: Surface = {
  key: 'doc',
  pattern: 'doc/:id',
  layout,
  read: (user) => isLearnerOrStaff(user),
  writes: [
    { path: 'body', by: roles('teacher', 'student', 'admin') },
    { path: 'comments/$self:*', by: readers },
    { path: 'comments/*', by: roles('teacher') },
    { path: 'meta', by: roles('teacher', 'admin') },
  ],
  decode: (d) => decodeLayout(layout, d),
}
