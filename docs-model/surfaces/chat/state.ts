// What the conversation family reads for a client (read receipts, a group's members) and what
// the server derives: which messages are old (retention), and whom a new message notifies.
import type * as Y from 'yjs'
import { entriesOf, mapOf, toMillis } from '../../common.ts'
import type { DocRef } from '../../types.ts'
import type { InboxItem } from '../inbox/surface.ts'
import { messagesOf, type ChatMessage } from './surface.ts'

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

/**
 * A new message notifies the conversation's members who are not connected to it with one inbox
 * item per conversation and quiet period (not one per message): the first message of each period
 * makes the item, later ones in the same period are already announced.
 */
export const MESSAGE_NOTICE_QUIET_MS = 10 * 60_000

/**
 * Who a conversation's messages are for: a dm's pair, a group's members, a chat room's
 * `meta.members`. A chat room open to the whole school (no members list) notifies nobody.
 */
export function conversationMembers(ref: DocRef, doc: Y.Doc): string[] {
  if (ref.surface === 'dm') return ref.params.pair.split('~')
  if (ref.surface === 'group') return groupMembers(doc)
  const listed = mapOf(doc, 'meta').get('members')
  return Array.isArray(listed) ? listed.map(String) : []
}

/** The inbox item announcing `message` in this conversation: its id names the conversation and the quiet period. */
export function messageNotice(ref: DocRef, doc: Y.Doc, message: ChatMessage, now: number): { id: string; item: InboxItem } {
  const period = Math.floor((toMillis(message.at) ?? now) / MESSAGE_NOTICE_QUIET_MS)
  const title = ref.surface === 'dm' ? `New message from ${message.author}` : `New messages in ${String(mapOf(doc, 'meta').get(ref.surface === 'group' ? 'name' : 'title') ?? ref.name)}`
  return {
    id: `message:${ref.name}:${period}`,
    item: { type: 'message', title: title.slice(0, 200), body: message.text.slice(0, 200), priority: 'normal', at: now, data: { document: ref.name, message: message.id, author: message.author } },
  }
}

/**
 * How many of the newest messages each conversation surface keeps in its document; older ones
 * move to the server's message archive, read page by page over HTTP. A room's opening then
 * sends at most this many messages, whatever its history.
 */
export const KEPT_MESSAGES: Record<(typeof CONVERSATION_FAMILIES)[number], number> = { chat: 500, dm: 500, group: 500 }

/** The oldest messages beyond `keep`, oldest first: what leaves the document for the archive. */
export const overflowMessages = (doc: Y.Doc, keep: number): ChatMessage[] => {
  const messages = messagesOf(doc)
  return messages.slice(0, Math.max(0, messages.length - keep))
}
