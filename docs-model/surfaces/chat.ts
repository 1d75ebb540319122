import { z } from 'zod'
import { arrayOf, decodeLayout, isLearnerOrStaff, mapOf, MAX_MESSAGE_TEXT, record, time, userId } from '../common.ts'
import { readers, roles } from '../who.ts'
import type { Identity, Surface, Who, WriteRule } from '../types.ts'
import type * as Y from 'yjs'

export const chatMessage = z.strictObject({
  id: z.string().min(1).max(64),
  author: userId,
  text: z.string().max(MAX_MESSAGE_TEXT),
  at: time,
  file: z.strictObject({ name: z.string().max(255), size: z.number().int().nonnegative(), url: z.string().max(500) }).optional(),
})
export type ChatMessage = z.infer<typeof chatMessage>

/** The roots every conversation surface (chat, dm, group) shares. */
export const conversationLayout = {
  messages: { kind: 'array', value: chatMessage },
  reads: { kind: 'map', value: z.string().max(64) },
} as const

const MAX_CLOCK_SKEW_MS = 5 * 60_000

/** Message and read-receipt rules, for the writers `who` admits. */
export function conversationRules(who: Who): WriteRule[] {
  return [
    {
      path: 'messages',
      by: who,
      ops: ['insert'],
      value: (v, ctx) => {
        const message = record(v)
        if (message?.author !== ctx.user.sub) return 'author must be the sender'
        // Retention goes by `at`: a message dated in the future would outlive the retention window.
        return new Date(message.at as string | number).getTime() > Date.now() + MAX_CLOCK_SKEW_MS ? 'at must not be in the future' : null
      },
    },
    { path: 'messages', by: who, ops: ['delete'], owner: (v) => record(v)?.author as string | undefined },
    { path: 'messages', by: roles('teacher', 'admin'), ops: ['delete'] },
    { path: 'reads/$self', by: who },
  ]
}

export function messagesOf(doc: Y.Doc): ChatMessage[] {
  return arrayOf(doc, 'messages').toArray() as ChatMessage[]
}

const chatLayout = {
  ...conversationLayout,
  meta: { kind: 'map', value: z.union([z.string().max(200), z.array(userId).max(5000)]) },
} as const

function members(doc: Y.Doc): string[] | undefined {
  const value = mapOf(doc, 'meta').get('members')
  return Array.isArray(value) ? value.map(String) : undefined
}

const isListed = (user: Identity, doc: Y.Doc): boolean => {
  const list = members(doc)
  return list === undefined || list.includes(user.sub) || user.role === 'admin' || user.role === 'director'
}

/** `s/chat/<room>`: a room of the school, or of `meta.members` when set. */
export const chat: Surface = {
  key: 'chat',
  pattern: 'chat/:room',
  layout: chatLayout,
  read: (user) => (isLearnerOrStaff(user) ? 'content' : false),
  readContent: async (user, ref, peek) => isListed(user, await peek(ref.name)),
  writes: [...conversationRules(readers), { path: 'meta', by: roles('teacher', 'admin') }],
  decode: (d) => decodeLayout(chatLayout, d),
}

let sequence = 0

/** Appends a message by `author` (the sender's own id: the server refuses any other). Returns its id. */
export function sendMessage(doc: Y.Doc, author: string, text: string, file?: ChatMessage['file']): string {
  const id = `${author}-${Date.now().toString(36)}-${(sequence++).toString(36)}`
  doc.getArray('messages').push([{ id, author, text, at: Date.now(), ...(file ? { file } : {}) }])
  return id
}

/** Removes a message: one's own, or any for teachers and admins. Returns whether it was there. */
export function deleteMessage(doc: Y.Doc, id: string): boolean {
  const index = messagesOf(doc).findIndex((m) => m.id === id)
  if (index >= 0) doc.getArray('messages').delete(index, 1)
  return index >= 0
}

/** Marks everything up to `messageId` read for `user` (a read receipt). */
export function markRead(doc: Y.Doc, user: string, messageId: string): void {
  doc.getMap('reads').set(user, messageId)
}

