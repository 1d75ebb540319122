// Writing to documents as the server (observers, HTTP routes, timers). These writes do not pass
// through any client connection, so the write guard never sees them; the journal records them
// with origin `server`. No client can produce this origin: it exists only in this process.
import type { Hocuspocus } from '@hocuspocus/server'
import type * as Y from 'yjs'
import { SERVICE_IDENTITY } from './identity.ts'
import type { Identity } from '../docs-model/types.ts'

export const SERVER_USER: Identity = { ...SERVICE_IDENTITY, sub: 'server', name: 'Homeroom' }

/** The context of a server write: who it is journaled as, plus what its transaction origin must carry (an observer's name). */
export interface ServerWriteContext {
  user: Identity
  derivedBy?: string
}

export interface ServerWriteOptions {
  /**
   * Keep the document loaded after the write, stored and unloaded once Hocuspocus's store
   * debounce has passed, rather than at once. For writes that come in bursts to documents nobody
   * has open (an event fanned out to many inboxes): each one loading, storing and unloading the
   * document costs a replay and a history pass, every time. The journal still records the write
   * as it happens, so durability is the same.
   */
  warm?: boolean
}

/** Applies `change` to the live document (loading it if needed) in one transaction, then lets it unload. */
export async function serverWrite(
  hocuspocus: Hocuspocus,
  name: string,
  change: (doc: Y.Doc) => void,
  as: Identity | ServerWriteContext = SERVER_USER,
  options: ServerWriteOptions = {},
): Promise<void> {
  const context: ServerWriteContext = 'user' in as ? as : { user: as }
  const connection = await hocuspocus.openDirectConnection(name, context)
  try {
    await connection.transact((doc) => change(doc))
  } finally {
    await connection.disconnect({ unloadImmediately: !options.warm })
  }
}
