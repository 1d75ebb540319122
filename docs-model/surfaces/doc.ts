import { z } from 'zod'
import { decodeLayout, isLearnerOrStaff, time } from '../common.ts'
import { readers, roles } from '../who.ts'
import type { Surface } from '../types.ts'

const layout = {
  body: { kind: 'xml' },
  comments: {
    kind: 'map',
    value: z.object({ text: z.string().max(4000), anchor: z.unknown().optional(), at: time, resolved: z.boolean().optional() }),
  },
  meta: { kind: 'map', value: z.union([z.string().max(200), z.number(), z.boolean()]) },
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
