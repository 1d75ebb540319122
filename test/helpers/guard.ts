// Helpers for write-guard tests: raw frames a hostile client sends, and views of the server's
// copy, journal and stored state of a document.
import * as decoding from 'lib0/decoding'
import * as encoding from 'lib0/encoding'
import * as Y from 'yjs'
import { resolve } from '../../docs-model/registry.ts'
import type { Client } from './clients.ts'
import type { TestServer } from './server.ts'

/** Sends `update` as a sync update frame on the client's socket, bypassing its Y.Doc. */
export function sendRawUpdate(client: Client, update: Uint8Array): void {
  const encoder = encoding.createEncoder()
  encoding.writeVarString(encoder, client.provider.configuration.name)
  encoding.writeVarUint(encoder, 0) // Sync
  encoding.writeVarUint(encoder, 2) // update
  encoding.writeVarUint8Array(encoder, update)
  client.socket.send(encoding.toUint8Array(encoder))
}

/** The update that takes `before` (a state vector) to the doc's current state. */
export function changesSince(doc: Y.Doc, before: Uint8Array): Uint8Array {
  return Y.encodeStateAsUpdate(doc, before)
}

/** Number of journal entries that came from client connections (the server's observers journal their own). */
export async function journalLength(server: TestServer, name: string): Promise<number> {
  return (await server.app.store.entriesAfter(name, 0)).filter((entry) => entry.origin === 'client').length
}

/** The document as its surface decodes it, from the server's live copy (or storage when unloaded). */
export async function serverJson(server: TestServer, name: string): Promise<unknown> {
  return resolve(name).surface.decode(await server.app.peek(name))
}

/** Resolves with the next sync acknowledgement the server sends this client: true when it applied the change. */
export function nextSyncStatus(client: Client): Promise<boolean> {
  return new Promise((resolve) => {
    const listener = (event: { data: ArrayBuffer | Uint8Array }) => {
      const decoder = decoding.createDecoder(new Uint8Array(event.data as ArrayBuffer))
      if (decoding.readVarString(decoder) !== client.provider.configuration.name) return
      if (decoding.readVarUint(decoder) !== 8) return // SyncStatus
      client.socket.off('message', listener)
      resolve(decoding.readVarInt(decoder) === 1)
    }
    client.socket.on('message', listener)
  })
}
