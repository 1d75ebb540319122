// Which user writes under which Yjs client id, per loaded document. Without this, a client could
// add structs under another session's client id at clocks that session has not sent yet; the
// server would then take that session's real changes for ones it already has and drop them.
// An id belongs to the user whose update first added structs under it here, or whose connection
// uses it for presence; ids from before the document loaded are claimed by the next writer.
import type { Document } from '@hocuspocus/server'
import { contextOf } from '../context.ts'
import type { ClientIds } from './check.ts'

export class ClientIdOwners {
  private readonly owners = new WeakMap<Document, Map<number, string>>()

  /** The claims of one update by `user`; `commit()` records them once the update is accepted. */
  forUpdate(document: Document, user: string): ClientIds & { commit(): void } {
    let owners = this.owners.get(document)
    if (!owners) this.owners.set(document, (owners = new Map()))
    const claimed: number[] = []
    const known = owners
    return {
      claim: (client) => {
        const owner = known.get(client) ?? presenceOwner(document, client)
        if (owner !== undefined && owner !== user) return `forbidden-write: client id ${client} belongs to another user`
        claimed.push(client)
        return null
      },
      commit: () => {
        for (const client of claimed) known.set(client, user)
      },
    }
  }
}

function presenceOwner(document: Document, client: number): string | undefined {
  for (const connection of document.getConnections()) {
    if (document.getClients(connection).has(client)) return contextOf(connection.context)?.user.sub
  }
  return undefined
}
