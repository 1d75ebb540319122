// The emergency family: `s/emergency/<id>`, the broadcast's shape, who it targets, and the
// writes that send it, acknowledge it and clear it ("all clear": the emergency is over).
import { z } from 'zod'
import { decodeLayout, mapOf, time } from '../../common.ts'
import { ROLES, type Identity, type Surface, type WriteContext } from '../../types.ts'
import { anyOf, roles, server } from '../../who.ts'
import type * as Y from 'yjs'

export const emergencyName = (school: string, id: string): string => `${school}/emergency/${id}`

/** Lowest first: an escalation raises the level one step. */
export const LEVELS = ['info', 'warning', 'critical'] as const
export type Level = (typeof LEVELS)[number]

/** What a broadcast must hold to be sent, and for the server to act on it (`by` and `at` aside). */
export const emergencyBroadcast = z.object({
  title: z.string().min(1).max(4000),
  message: z.string().max(4000),
  level: z.enum(LEVELS),
  targetRoles: z.array(z.enum(ROLES)).min(1).max(ROLES.length),
})
export type Broadcast = z.infer<typeof emergencyBroadcast>

const layout = {
  broadcast: {
    kind: 'map',
    value: z.union([z.string().max(4000), z.enum(LEVELS), z.array(z.enum(ROLES)).max(ROLES.length), time]),
  },
  acks: { kind: 'map', value: z.strictObject({ at: time }) },
  status: { kind: 'map' },
  /** The "all clear": `by` (who ended it) and `at`, written once in one update. */
  cleared: { kind: 'map', value: z.union([z.string().max(64), time]) },
} as const

/** What `cleared` holds once an emergency is over. */
export const emergencyCleared = z.object({ by: z.string().min(1).max(64), at: time })
export type Cleared = z.infer<typeof emergencyCleared>

/** The roles the broadcast targets, as written (empty before it is sent). */
export function targetRoles(doc: Y.Doc): string[] {
  const roles = mapOf(doc, 'broadcast').get('targetRoles')
  return Array.isArray(roles) ? roles.map(String) : []
}

const isTargeted = (user: Identity, doc: Y.Doc): boolean => targetRoles(doc).includes(user.role)

/** The user who sent the broadcast (its `by`): they may end what they started. */
const isSender = (ctx: WriteContext): boolean => mapOf(ctx.doc, 'broadcast').get('by') === ctx.user.sub

/** `cleared/by` names the writer, `cleared/at` is a time (held to the server's clock by the guard); nothing else. */
function clearedValue(value: unknown, ctx: WriteContext, path: readonly string[]): string | null {
  const key = path[path.length - 1]
  if (key === 'by') return value === ctx.user.sub ? null : 'cleared.by must be the clearing user'
  if (key === 'at') return time.safeParse(value).success ? null : 'cleared.at must be a time'
  return `cleared has only by and at, not ${key}`
}

function clearFrozen(ctx: WriteContext): string | null {
  if (mapOf(ctx.doc, 'broadcast').size === 0) return 'frozen: nothing to clear yet'
  return mapOf(ctx.doc, 'cleared').size > 0 ? 'frozen: already cleared' : null
}

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
    // Admins, and whoever sent the broadcast, end the emergency; once, in one update.
    { path: 'cleared', by: anyOf(roles('admin'), isSender), ops: ['insert'], value: clearedValue, frozen: clearFrozen },
  ],
  decode: (d) => decodeLayout(layout, d),
}

/** Sends the broadcast (once: the document freezes it), each target role listed once. */
export function sendBroadcast(doc: Y.Doc, broadcast: Broadcast, by: string, at: number = Date.now()): void {
  doc.transact(() => {
    const map = doc.getMap('broadcast')
    map.set('title', broadcast.title)
    map.set('message', broadcast.message)
    map.set('level', broadcast.level)
    map.set('targetRoles', [...new Set(broadcast.targetRoles)])
    map.set('by', by)
    map.set('at', at)
  })
}

/** A targeted user acknowledges the broadcast. */
export function acknowledge(doc: Y.Doc, user: string, at: number = Date.now()): void {
  doc.getMap('acks').set(user, { at })
}

/** Ends the emergency ("all clear"): the server stops escalating it. */
export function clearEmergency(doc: Y.Doc, by: string, at: number = Date.now()): void {
  doc.transact(() => {
    const map = doc.getMap('cleared')
    map.set('by', by)
    map.set('at', at)
  })
}
