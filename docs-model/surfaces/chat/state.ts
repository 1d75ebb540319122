// What the conversation family reads for a client: read receipts and a group's members.
import type * as Y from 'yjs'
import { entriesOf, mapOf } from '../../common.ts'
import { messagesOf } from './surface.ts'

/** Users (other than `me`) who have read `messageId` or a later message. */
export function readBy(doc: Y.Doc, messageId: string, me: string): string[] {
  const order = new Map(messagesOf(doc).map((m, i) => [m.id, i]))
  const index = order.get(messageId) ?? Number.POSITIVE_INFINITY
  return entriesOf<string>(mapOf(doc, 'reads'))
    .filter(([user, last]) => user !== me && (order.get(last) ?? -1) >= index)
    .map(([user]) => user)
}

export const groupMembers = (doc: Y.Doc): string[] => [...mapOf(doc, 'members').keys()]

/** The families whose `messages` array CHAT_RETENTION_DAYS applies to. */
export const CONVERSATION_FAMILIES = ['chat', 'dm', 'group'] as const

/** A message's time (milliseconds or an ISO string, as clients write it); NaN when unreadable, so it is kept. */
function messageTime(message: unknown): number {
  const at = (message as { at?: unknown } | null)?.at
  if (typeof at === 'number') return at
  return typeof at === 'string' ? Date.parse(at) : Number.NaN
}

/** Indexes of the messages older than `cutoff`. */
export function oldMessages(doc: Y.Doc, cutoff: number): number[] {
  return messagesOf(doc).flatMap((message, index) => (messageTime(message) < cutoff ? [index] : []))
}

/** Deletes messages older than `cutoff`, from the end so earlier indexes stay valid. */
export function removeOldMessages(doc: Y.Doc, cutoff: number): void {
  const messages = doc.getArray('messages')
  for (const index of oldMessages(doc, cutoff).reverse()) messages.delete(index, 1)
}
