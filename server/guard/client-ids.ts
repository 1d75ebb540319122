// Who owns which Yjs client id of a document. Without owners, a client could add structs under
// another session's client id at clocks that session has not sent yet (a GC covering the next
// thousand clocks is enough): the server would then take that session's real changes for ones
// it already has and drop them, acknowledged, everywhere.
//
// An id belongs to the user whose accepted update first wrote under it. Ownership lives in the
// store (shared by every instance, kept across unloads and restarts; see Store.claimClients),
// with a per-document cache in front: a session's first update costs one lookup and one claim,
// every later one nothing. An id that a connection uses for presence but has not written under
// yet is that connection's user's, so nobody can take an id they saw in someone's cursor.
import type { Document } from '@hocuspocus/server'
import { contextOf } from '../context.ts'
import type { ClientOwnerStore } from '../store/types.ts'
import type { Owners } from './check.ts'

export type OwnerStore = ClientOwnerStore

export class ClientIdOwners {
  private readonly store: OwnerStore
  /** Known owners per document name; only positive answers are kept (an unowned id may be claimed elsewhere any moment). */
  private readonly known = new Map<string, Map<number, string>>()

  constructor(store: OwnerStore) {
    this.store = store
  }

  /** The owners of `clients` (and of any id the document knows), read from the store where not known here. */
  async lookup(name: string, document: Document, clients: Iterable<number>): Promise<Owners> {
    const known = this.knownFor(name)
    const unknown = [...clients].filter((client) => !known.has(client))
    if (unknown.length > 0) {
      for (const [client, owner] of await this.store.clientOwners(name, unknown)) known.set(client, owner)
    }
    return { of: (client) => known.get(client), presence: (client) => presenceOwner(document, client) }
  }

  /** Records `user` as the owner of `clients`; a refusal reason when another instance got one of them first. */
  async claim(name: string, clients: readonly number[], user: string): Promise<string | null> {
    const owners = await this.store.claimClients(name, clients, user)
    const known = this.knownFor(name)
    let lost: number | undefined
    for (const [client, owner] of owners) {
      known.set(client, owner)
      if (owner !== user) lost = client
    }
    return lost === undefined ? null : `forbidden-write: client id ${lost} belongs to another user`
  }

  /** The document unloaded here: its cache goes (the store keeps the owners). */
  forget(name: string): void {
    this.known.delete(name)
  }

  private knownFor(name: string): Map<number, string> {
    let known = this.known.get(name)
    if (!known) this.known.set(name, (known = new Map()))
    return known
  }
}

function presenceOwner(document: Document, client: number): string | undefined {
  for (const connection of document.getConnections()) {
    if (document.getClients(connection).has(client)) return contextOf(connection.context)?.user.sub
  }
  return undefined
}
