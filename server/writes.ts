// Writing to documents as the server (observers, HTTP routes, timers). These writes do not pass
// through any client connection, so the write guard never sees them; the journal records them
// with origin `server`. No client can produce this origin: it exists only in this process.
import type { Hocuspocus } from '@hocuspocus/server'
import type * as Y from 'yjs'
import { SERVICE_IDENTITY } from './identity.ts'
import type { Identity } from '../docs-model/types.ts'

export const SERVER_USER: Identity = { ...SERVICE_IDENTITY, sub: 'server', name: 'Homeroom' }

/** Applies `change` to the live document (loading it if needed) in one transaction, then lets it unload. */
export async function serverWrite(hocuspocus: Hocuspocus, name: string, change: (doc: Y.Doc) => void, as: Identity = SERVER_USER): Promise<void> {
  const connection = await hocuspocus.openDirectConnection(name, { user: as })
  try {
    await connection.transact((doc) => change(doc))
  } finally {
    await connection.disconnect()
  }
}
