// Who made a change to a document, read from its Yjs transaction origin: a client connection of
// this instance, another instance through Redis, or this server itself (observers, routes,
// tools, whose direct connections carry a context naming the user they write as).
import { isTransactionOrigin } from '@hocuspocus/server'

export type ChangeSource = 'client' | 'server' | 'peer'

export function sourceOf(origin: unknown): ChangeSource {
  if (!isTransactionOrigin(origin)) return 'server'
  if (origin.source === 'connection') return 'client'
  return origin.source === 'redis' ? 'peer' : 'server'
}

/** The context a server write was made with (see server/writes.ts), or undefined for other changes. */
export function serverContext(origin: unknown): { user?: { sub?: string }; derivedBy?: string } | undefined {
  return isTransactionOrigin(origin) && origin.source === 'local' ? (origin.context ?? undefined) : undefined
}
