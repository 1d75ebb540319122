// What the inbox family reads for a client: the items, newest first, with whether each was read.
import type * as Y from 'yjs'
import { entriesOf, mapOf } from '../../common.ts'
import type { InboxItem } from './surface.ts'

export function inboxItems(doc: Y.Doc): Array<InboxItem & { id: string; read: boolean }> {
  const read = mapOf(doc, 'read')
  return entriesOf<InboxItem>(mapOf(doc, 'items'))
    .map(([id, item]) => ({ ...item, id, read: read.has(id) }))
    .sort((a, b) => new Date(b.at).getTime() - new Date(a.at).getTime())
}
