import { z } from 'zod'
import { decodeLayout, mapOf, time } from '../../common.ts'
import { ROLES, type Identity, type Surface, type WriteContext } from '../../types.ts'
import { roles, server } from '../../who.ts'
import type * as Y from 'yjs'

export const LEVELS = ['info', 'warning', 'critical'] as const

const layout = {
  broadcast: {
    kind: 'map',
    value: z.union([z.string().max(4000), z.enum(LEVELS), z.array(z.enum(ROLES)).max(ROLES.length), time]),
  },
  acks: { kind: 'map', value: z.strictObject({ at: time }) },
  status: { kind: 'map' },
} as const

export function targetRoles(doc: Y.Doc): string[] {
  const roles = mapOf(doc, 'broadcast').get('targetRoles')
  return Array.isArray(roles) ? roles.map(String) : []
}

const isTargeted = (user: Identity, doc: Y.Doc): boolean => targetRoles(doc).includes(user.role)

/** `s/emergency/<id>`: a broadcast every targeted user must acknowledge; the server escalates. */
export const emergency: Surface = {
  key: 'emergency',
  pattern: 'emergency/:id',
  layout,
  read: () => 'content',
  readContent: async (user, ref, peek) => isTargeted(user, await peek(ref.name)),
  writes: [
    {
      path: 'broadcast',
      by: roles('admin', 'director'),
      ops: ['insert'],
      frozen: (ctx: WriteContext) => (mapOf(ctx.doc, 'broadcast').size > 0 ? 'frozen: broadcast already sent' : null),
    },
    {
      path: 'acks/$self',
      by: (ctx) => targetRoles(ctx.doc).length === 0 || isTargeted(ctx.user, ctx.doc),
      ops: ['insert'],
      frozen: (ctx) => (targetRoles(ctx.doc).length === 0 ? 'frozen: nothing to acknowledge yet' : null),
    },
    { path: 'status', by: server },
  ],
  decode: (d) => decodeLayout(layout, d),
}
