// The doc family: `s/doc/<id>`, a rich-text body with comments; the shape of a comment and
// the writes that add and resolve one.
import { z } from 'zod'
import { decodeLayout, isLearnerOrStaff, mapOf, newId, time } from '../../common.ts'
import { readers, roles } from '../../who.ts'
import type { Surface } from '../../types.ts'
import type * as Y from 'yjs'

export const docName = (school: string, id: string): string => `${school}/doc/${id}`

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

/** A new key for a comment by `author`: `<author>:<id>`, which they may write. */
export const commentKey = (author: string): string => `${author}:${newId()}`

export function addComment(doc: Y.Doc, key: string, text: string, anchor?: CommentAnchor, at: number = Date.now()): void {
  doc.getMap('comments').set(key, { text, at, ...(anchor === undefined ? {} : { anchor }) })
}

/** Marks a comment resolved; nothing when there is no such comment. */
export function resolveComment(doc: Y.Doc, key: string): void {
  const current = mapOf(doc, 'comments').get(key) as DocComment | undefined
  if (current) doc.getMap('comments').set(key, { ...current, resolved: true })
}
