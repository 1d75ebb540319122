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

export type Id = readonly [client: number, clock: number]

/** One struct of a hand-made update, as Yjs' v1 encoding lays it out. */
export interface Crafted {
  id: Id
  origin?: Id
  rightOrigin?: Id
  /** A root name or the id of the parent type's item; only written when there are no origins. */
  parent?: string | Id
  parentSub?: string
  content: { any: unknown[] } | { string: string } | { type: 'map' | 'array' | 'text' } | { deleted: number } | { subdoc: string }
}

const TYPE_REFS = { array: 0, map: 1, text: 2 } as const

/** Encodes structs (grouped by client, each group contiguous from its first clock) and deletes into a v1 update. */
export function craft(structs: Crafted[], deletes: Array<{ client: number; clock: number; len: number }> = []): Uint8Array {
  const encoder = encoding.createEncoder()
  const byClient = new Map<number, Crafted[]>()
  for (const s of structs) {
    const list = byClient.get(s.id[0])
    if (list) list.push(s)
    else byClient.set(s.id[0], [s])
  }
  encoding.writeVarUint(encoder, byClient.size)
  for (const [client, list] of byClient) {
    encoding.writeVarUint(encoder, list.length)
    encoding.writeVarUint(encoder, client)
    encoding.writeVarUint(encoder, list[0].id[1])
    for (const s of list) writeStruct(encoder, s)
  }
  writeDeleteSet(encoder, deletes)
  return encoding.toUint8Array(encoder)
}

/** Writes delete ranges as a v1 delete set, grouped by client in the order clients first appear. */
export function writeDeleteSet(encoder: encoding.Encoder, deletes: ReadonlyArray<{ client: number; clock: number; len: number }>): void {
  const byClient = new Map<number, Array<{ clock: number; len: number }>>()
  for (const d of deletes) {
    const list = byClient.get(d.client)
    if (list) list.push(d)
    else byClient.set(d.client, [d])
  }
  encoding.writeVarUint(encoder, byClient.size)
  for (const [client, list] of byClient) {
    encoding.writeVarUint(encoder, client)
    encoding.writeVarUint(encoder, list.length)
    for (const d of list) {
      encoding.writeVarUint(encoder, d.clock)
      encoding.writeVarUint(encoder, d.len)
    }
  }
}

function writeStruct(encoder: encoding.Encoder, s: Crafted): void {
  const c = s.content
  const ref = 'any' in c ? 8 : 'string' in c ? 4 : 'type' in c ? 7 : 'deleted' in c ? 1 : 9
  const withParent = !s.origin && !s.rightOrigin
  encoding.writeUint8(encoder, ref | (s.origin ? 128 : 0) | (s.rightOrigin ? 64 : 0) | (withParent && s.parentSub !== undefined ? 32 : 0))
  for (const id of [s.origin, s.rightOrigin]) {
    if (!id) continue
    encoding.writeVarUint(encoder, id[0])
    encoding.writeVarUint(encoder, id[1])
  }
  if (withParent) {
    if (typeof s.parent === 'string') {
      encoding.writeVarUint(encoder, 1)
      encoding.writeVarString(encoder, s.parent)
    } else {
      encoding.writeVarUint(encoder, 0)
      encoding.writeVarUint(encoder, s.parent![0])
      encoding.writeVarUint(encoder, s.parent![1])
    }
    if (s.parentSub !== undefined) encoding.writeVarString(encoder, s.parentSub)
  }
  if ('any' in c) {
    encoding.writeVarUint(encoder, c.any.length)
    for (const v of c.any) encoding.writeAny(encoder, v as never)
  } else if ('string' in c) encoding.writeVarString(encoder, c.string)
  else if ('type' in c) encoding.writeVarUint(encoder, TYPE_REFS[c.type])
  else if ('deleted' in c) encoding.writeVarUint(encoder, c.deleted)
  else {
    encoding.writeVarString(encoder, c.subdoc)
    encoding.writeAny(encoder, {})
  }
}

/** The id of the item currently holding `key` in a root map of `doc`. */
export function itemAt(doc: Y.Doc, root: string, key: string): Id {
  const item = doc.getMap(root)._map.get(key)!
  return [item.id.client, item.id.clock]
}

/** An update of one GC struct covering `length` clocks of `client` from `clock`: "these clocks are collected". */
export function encodeGc(client: number, clock: number, length: number): Uint8Array {
  const encoder = encoding.createEncoder()
  for (const n of [1, 1, client, clock]) encoding.writeVarUint(encoder, n)
  encoding.writeUint8(encoder, 0)
  encoding.writeVarUint(encoder, length)
  encoding.writeVarUint(encoder, 0) // no deletes
  return encoding.toUint8Array(encoder)
}
