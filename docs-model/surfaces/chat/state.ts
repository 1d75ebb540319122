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
