// Delivering notifications: one item per recipient, written by the server into each
// recipient's inbox document under a deterministic id, so a repeated delivery changes nothing.
// Items sent through the HTTP API are keyed by their sender as well as their id
// (`notificationKey`): senders choose ids freely, and one sender's id must never hide another's.
import type { Hocuspocus } from '@hocuspocus/server'
import type { Homeroom } from './homeroom.ts'
import type * as Y from 'yjs'
import { inboxItem, inboxName, type InboxItem } from '../docs-model/surfaces/inbox/surface.ts'
import { mapOf } from '../docs-model/common.ts'
import { SERVER_USER, serverWrite } from './writes.ts'

/**
 * Writes `item` as `id` into each user's inbox; an item already there is left as it is. Resolves
 * once every write is journaled: callers record their progress after it (a fan-out's claim, an
 * event's acknowledgement), and an instance killed before then must leave the batch undone.
 * Inboxes stay warm: deliveries come in bursts.
 */
export async function deliver(app: Pick<Homeroom, 'hocuspocus' | 'journaled'>, school: string, users: string[], id: string, item: InboxItem): Promise<void> {
  const checked = inboxItem.parse(item)
  await Promise.all(
    users.map(async (user) => {
      const name = inboxName(school, user)
      await serverWrite(app.hocuspocus, name, (doc: Y.Doc) => {
        const items = mapOf(doc, 'items')
        if (!items.has(id)) items.set(id, checked)
      }, SERVER_USER, { warm: true })
      await app.journaled(name)
    }),
  )
}

/**
 * The inbox item id of a notification that `sender` (a user id) posted with `id`. The prefix keeps
 * these apart from the server's own items (`emergency:<id>`, `bus:…`, `exam:…`), whatever the sender is called.
 */
export const notificationKey = (sender: string, id: string): string => `notification:${sender}:${id}`

/** The item under `id` in each user's inbox (undefined where there is none), in the order of `users`. */
export async function inboxItems(hocuspocus: Hocuspocus, school: string, users: string[], id: string): Promise<unknown[]> {
  return Promise.all(
    users.map(async (user) => {
      const connection = await hocuspocus.openDirectConnection(inboxName(school, user), { user: SERVER_USER })
      try {
        return mapOf(connection.document!, 'items').get(id)
      } finally {
        await connection.disconnect()
      }
    }),
  )
}
