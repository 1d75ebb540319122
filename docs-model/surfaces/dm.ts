import { decodeLayout } from '../common.ts'
import { conversationLayout, conversationRules } from './chat.ts'
import type { Surface, Who } from '../types.ts'

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
