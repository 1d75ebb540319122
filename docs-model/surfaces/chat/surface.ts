// The conversation family: `chat` rooms, `dm` pairs and study `group`s share one message
// layout and one set of message rules, so they are declared together.
import { z } from 'zod'
import { arrayOf, decodeLayout, isLearnerOrStaff, mapOf, MAX_MESSAGE_TEXT, newId, record, time, userId } from '../../common.ts'
import { anyOf, readers, roles } from '../../who.ts'
import type { Identity, Surface, Who, WriteContext, WriteRule } from '../../types.ts'
import type * as Y from 'yjs'

export const chatName = (school: string, room: string): string => `${school}/chat/${room}`
export const groupName = (school: string, id: string): string => `${school}/group/${id}`

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

/** Message and read-receipt rules, for the writers `who` admits. */
export function conversationRules(who: Who): WriteRule[] {
  return [
    {
      path: 'messages',
      by: who,
      ops: ['insert'],
      // Its `at` is held to the server's clock by the guard (clockSkew in docs-model/rules.ts).
      value: (v, ctx) => (record(v)?.author === ctx.user.sub ? null : 'author must be the sender'),
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

/** Admins and directors read every room through the school-wide grant (rules.ts). */
const isListed = (user: Identity, doc: Y.Doc): boolean => {
  const list = members(doc)
  return list === undefined || list.includes(user.sub)
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

/** Appends a message by `author` (the sender's own id: the server refuses any other). Returns its id. */
export function sendMessage(doc: Y.Doc, author: string, text: string, file?: ChatMessage['file']): string {
  const message: ChatMessage = { id: newId(), author, text, at: Date.now(), ...(file ? { file } : {}) }
  doc.getArray('messages').push([message])
  return message.id
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

/** The canonical name of two users' conversation (the pair in sorted order). */
export const dmName = (school: string, a: string, b: string): string => `${school}/dm/${[a, b].sort().join('~')}`

const inPair: Who = (ctx) => ctx.ref.params.pair.split('~').includes(ctx.user.sub)

/** `s/dm/<userA>~<userB>`: a conversation of exactly two users. */
export const dm: Surface = {
  key: 'dm',
  pattern: 'dm/:pair',
  layout: conversationLayout,
  read: (user, ref) => ref.params.pair.split('~').includes(user.sub),
  writes: conversationRules(inPair),
  decode: (d) => decodeLayout(conversationLayout, d),
}

const groupLayout = {
  meta: {
    kind: 'map',
    value: z.union([z.string().max(500), z.number().int().min(1).max(10000), z.boolean(), z.array(userId).max(10000)]),
  },
  members: { kind: 'map', value: z.strictObject({ at: time }) },
  ...conversationLayout,
} as const

export interface GroupMeta {
  owner?: string
  maxMembers: number
  isPublic: boolean
  invited: string[]
}

export function groupMeta(doc: Y.Doc): GroupMeta {
  const meta = mapOf(doc, 'meta')
  const max = meta.get('maxMembers')
  const invited = meta.get('invited')
  return {
    owner: typeof meta.get('owner') === 'string' ? (meta.get('owner') as string) : undefined,
    maxMembers: typeof max === 'number' ? max : Number.POSITIVE_INFINITY,
    isPublic: meta.get('isPublic') === true,
    invited: Array.isArray(invited) ? invited.map(String) : [],
  }
}

const isMember = (doc: Y.Doc, user: string): boolean => mapOf(doc, 'members').has(user)

/** Admins and directors read every group through the school-wide grant (rules.ts). */
function mayView(user: Identity, doc: Y.Doc): boolean {
  const meta = groupMeta(doc)
  if (meta.owner === undefined) return isLearnerOrStaff(user) // not created yet: anyone may create it
  return meta.isPublic ? isLearnerOrStaff(user) : isMember(doc, user.sub) || meta.invited.includes(user.sub) || meta.owner === user.sub
}

/** The owner, or anyone while the group has no owner yet (creating it names its owner). */
const ownerOrCreator: Who = (ctx) => {
  const owner = groupMeta(ctx.doc).owner
  return owner === undefined || owner === ctx.user.sub
}

/** An empty group has no members yet; `by` must hold on it for anyone who may later join. */
const member: Who = (ctx) => mapOf(ctx.doc, 'members').size === 0 || isMember(ctx.doc, ctx.user.sub)

function joinFrozen(ctx: WriteContext): string | null {
  const meta = groupMeta(ctx.doc)
  if (isMember(ctx.doc, ctx.user.sub)) return null
  if (!meta.isPublic && !meta.invited.includes(ctx.user.sub) && meta.owner !== ctx.user.sub) return 'frozen: group is invite-only'
  if (mapOf(ctx.doc, 'members').size >= meta.maxMembers) return `frozen: group is full (${meta.maxMembers} members)`
  return null
}

/** `s/group/<id>`: a study group with members, invitations and a conversation. */
export const group: Surface = {
  key: 'group',
  pattern: 'group/:id',
  layout: groupLayout,
  read: (user) => (isLearnerOrStaff(user) ? 'content' : false),
  readContent: async (user, ref, peek) => mayView(user, await peek(ref.name)),
  writes: [
    {
      path: 'meta',
      by: anyOf(ownerOrCreator, roles('teacher')),
      value: (v, ctx, path) =>
        path[1] === 'owner' && v !== ctx.user.sub && ctx.user.role !== 'teacher' ? 'owner must be the user creating the group' : null,
    },
    { path: 'members/$self', by: (ctx) => isLearnerOrStaff(ctx.user), frozen: joinFrozen },
    ...conversationRules(member).map((rule) => ({ ...rule, frozen: (ctx: WriteContext) => (isMember(ctx.doc, ctx.user.sub) ? null : 'frozen: join the group first') })),
  ],
  decode: (d) => decodeLayout(groupLayout, d),
}

/**
 * Creates the group with `owner` as its owner and first member. Two transactions, so two updates:
 * the join is checked against the group as the first one created it.
 */
export function createGroup(doc: Y.Doc, owner: string, settings: { name: string; maxMembers: number; isPublic: boolean; description?: string; invited?: string[] }): void {
  doc.transact(() => {
    const meta = doc.getMap('meta')
    for (const [key, value] of Object.entries({ ...settings, owner })) if (value !== undefined) meta.set(key, value)
  })
  joinGroup(doc, owner)
}

export function joinGroup(doc: Y.Doc, user: string): void {
  doc.getMap('members').set(user, { at: Date.now() })
}

export function leaveGroup(doc: Y.Doc, user: string): void {
  doc.getMap('members').delete(user)
}
