import { z } from 'zod'
import { decodeLayout, hasRole, isLearnerOrStaff, mapOf, time, userId } from '../common.ts'
import { conversationLayout, conversationRules } from './chat.ts'
import { anyOf, roles } from '../who.ts'
import type { Identity, Surface, Who, WriteContext } from '../types.ts'
import type * as Y from 'yjs'

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
  readContent: async (user, ref, peek) => hasRole(user, 'admin', 'director') || mayView(user, await peek(ref.name)),
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

