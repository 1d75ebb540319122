// A lean reader of Yjs v1 updates for the write guard. It reads exactly the bytes Yjs'
// own reader reads (same lib0 functions, same order), but materialises only what the server
// does not have yet, and decodes content only where a rule may need the value.
import * as decoding from 'lib0/decoding'

export interface StructId {
  client: number
  clock: number
}

/** Content kinds, numbered as Yjs numbers them (`info & 31`). */
export const GC = 0
export const DELETED = 1
export const JSON_CONTENT = 2
export const BINARY = 3
export const STRING = 4
export const EMBED = 5
export const FORMAT = 6
export const TYPE = 7
export const ANY = 8
export const SUBDOC = 9

/** Type references of ContentType, as Yjs numbers them. */
export const TYPE_NAMES = ['Array', 'Map', 'Text', 'XmlElement', 'XmlFragment', 'XmlHook', 'XmlText'] as const

/** A struct of the update, at least partly new to the server. */
export interface NewStruct {
  client: number
  clock: number
  length: number
  /** Clocks at the start that the server already has (a resent struct that grew). */
  known: number
  origin: StructId | null
  rightOrigin: StructId | null
  /** A root name, the id of the parent type's item, or null when it follows from the origins. */
  parent: string | StructId | null
  parentSub: string | null
  content: number
  /** For TYPE content: the index into TYPE_NAMES. */
  typeRef: number
  /** For ANY content: the values. */
  values: unknown[] | null
}

export interface DeleteRange {
  client: number
  clock: number
  len: number
}

export interface DecodedUpdate {
  /** New structs per client, in clock order. */
  clients: Map<number, NewStruct[]>
  deletes: DeleteRange[]
}

export class MalformedUpdate extends Error {}

/**
 * Decodes `update`; `state(client)` is the server's next expected clock for a client, so structs
 * below it are skipped without being kept. Throws MalformedUpdate where Yjs would fail.
 */
export function decodeUpdate(update: Uint8Array, state: (client: number) => number): DecodedUpdate {
  const decoder = decoding.createDecoder(update)
  const clients = new Map<number, NewStruct[]>()
  try {
    const blocks = decoding.readVarUint(decoder)
    for (let b = 0; b < blocks; b++) {
      const count = decoding.readVarUint(decoder)
      const client = decoding.readVarUint(decoder)
      let clock = decoding.readVarUint(decoder)
      const known = state(client)
      const structs: NewStruct[] = []
      for (let i = 0; i < count; i++) {
        const info = decoding.readUint8(decoder)
        const kind = info & 31
        if (info === 10) {
          clock += decoding.readVarUint(decoder) // a Skip: nothing to apply
          continue
        }
        if (kind === GC) {
          const length = decoding.readVarUint(decoder)
          if (clock + length > known) structs.push(gcStruct(client, clock, length, known))
          clock += length
          continue
        }
        const origin = (info & 128) === 128 ? readId(decoder) : null
        const rightOrigin = (info & 64) === 64 ? readId(decoder) : null
        let parent: NewStruct['parent'] = null
        let parentSub: string | null = null
        if ((info & 192) === 0) {
          parent = decoding.readVarUint(decoder) === 1 ? decoding.readVarString(decoder) : readId(decoder)
          if ((info & 32) === 32) parentSub = decoding.readVarString(decoder)
        }
        const struct: NewStruct = { client, clock, length: 1, known: 0, origin, rightOrigin, parent, parentSub, content: kind, typeRef: -1, values: null }
        readContent(decoder, struct, known - clock)
        if (struct.length === 0) throw new MalformedUpdate('malformed update: empty struct')
        if (clock + struct.length > known) {
          struct.known = Math.max(0, known - clock)
          structs.push(struct)
        }
        clock += struct.length
      }
      // Yjs keeps only the last block of a client; so do we.
      clients.set(client, structs)
    }
    const deletes: DeleteRange[] = []
    const dsClients = decoding.readVarUint(decoder)
    for (let c = 0; c < dsClients; c++) {
      const client = decoding.readVarUint(decoder)
      const n = decoding.readVarUint(decoder)
      for (let i = 0; i < n; i++) {
        const clock = decoding.readVarUint(decoder)
        const len = decoding.readVarUint(decoder)
        if (len > 0) deletes.push({ client, clock, len })
      }
    }
    return { clients, deletes }
  } catch (error) {
    if (error instanceof MalformedUpdate) throw error
    throw new MalformedUpdate(`malformed update: ${(error as Error).message}`)
  }
}

const readId = (decoder: decoding.Decoder): StructId => ({ client: decoding.readVarUint(decoder), clock: decoding.readVarUint(decoder) })

const gcStruct = (client: number, clock: number, length: number, known: number): NewStruct => ({
  client, clock, length, known: Math.max(0, known - clock), origin: null, rightOrigin: null, parent: null, parentSub: null, content: GC, typeRef: -1, values: null,
})

/** Reads one item's content into `struct` (its length, type ref, and values unless the server has them all). */
function readContent(decoder: decoding.Decoder, struct: NewStruct, knownLength: number): void {
  switch (struct.content) {
    case DELETED:
      struct.length = decoding.readVarUint(decoder)
      break
    case JSON_CONTENT: {
      const len = decoding.readVarUint(decoder)
      for (let i = 0; i < len; i++) decoding.readVarString(decoder)
      struct.length = len
      break
    }
    case BINARY:
      decoding.readVarUint8Array(decoder)
      break
    case STRING:
      // The length in UTF-16 units decides later clocks, so decode exactly as Yjs does.
      struct.length = decoding.readVarString(decoder).length
      break
    case EMBED:
      JSON.parse(decoding.readVarString(decoder))
      break
    case FORMAT:
      decoding.readVarString(decoder)
      JSON.parse(decoding.readVarString(decoder))
      break
    case TYPE: {
      const ref = decoding.readVarUint(decoder)
      if (ref >= TYPE_NAMES.length) throw new MalformedUpdate(`malformed update: unknown type ${ref}`)
      if (ref === 3 || ref === 5) decoding.readVarString(decoder) // element or hook name
      struct.typeRef = ref
      break
    }
    case ANY: {
      const len = decoding.readVarUint(decoder)
      const values = len > knownLength ? new Array<unknown>(len) : null
      for (let i = 0; i < len; i++) {
        const value = decoding.readAny(decoder)
        if (values) values[i] = value
      }
      struct.values = values
      struct.length = len
      break
    }
    case SUBDOC:
      decoding.readVarString(decoder)
      decoding.readAny(decoder)
      break
    default:
      throw new MalformedUpdate(`malformed update: unknown content ${struct.content}`)
  }
}
