// A lean reader of Yjs v1 updates for the write guard. It reads exactly the bytes Yjs' own
// reader reads, in the same order and to the same values (ASCII strings take a shortcut), but
// keeps only what the server does not have yet, and values only where a rule may need them.
import * as decoding from 'lib0/decoding'

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

/** A struct of the update, at least partly new to the server. Ids are (client, clock) pairs; -1 when absent. */
export interface NewStruct {
  client: number
  clock: number
  length: number
  /** Clocks at the start that the server already has (a resent struct that grew). */
  known: number
  originClient: number
  originClock: number
  rightClient: number
  rightClock: number
  /** A root name; or the parent type's item id in parentClient/parentClock; or neither when the origins decide. */
  parentRoot: string | null
  parentClient: number
  parentClock: number
  parentSub: string | null
  content: number
  /** For TYPE content: the index into TYPE_NAMES. */
  typeRef: number
  /** For ANY content: the values. */
  values: unknown[] | null
  /** Where the check resolved it: filled in by the check, null when it has no effect. */
  location: unknown
  /** Set while the check follows origins through this struct, to detect cycles. */
  visiting: boolean
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
        const struct: NewStruct = {
          client, clock, length: 1, known: 0, originClient: -1, originClock: -1, rightClient: -1, rightClock: -1,
          parentRoot: null, parentClient: -1, parentClock: -1, parentSub: null, content: kind, typeRef: -1, values: null, location: undefined, visiting: false,
        }
        if ((info & 128) === 128) {
          struct.originClient = decoding.readVarUint(decoder)
          struct.originClock = decoding.readVarUint(decoder)
        }
        if ((info & 64) === 64) {
          struct.rightClient = decoding.readVarUint(decoder)
          struct.rightClock = decoding.readVarUint(decoder)
        }
        if ((info & 192) === 0) {
          if (decoding.readVarUint(decoder) === 1) struct.parentRoot = readString(decoder)
          else {
            struct.parentClient = decoding.readVarUint(decoder)
            struct.parentClock = decoding.readVarUint(decoder)
          }
          if ((info & 32) === 32) struct.parentSub = readString(decoder)
        }
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

const gcStruct = (client: number, clock: number, length: number, known: number): NewStruct => ({
  client, clock, length, known: Math.max(0, known - clock), originClient: -1, originClock: -1, rightClient: -1, rightClock: -1,
  parentRoot: null, parentClient: -1, parentClock: -1, parentSub: null, content: GC, typeRef: -1, values: null, location: null, visiting: false,
})

/** The length of a string in UTF-16 units, as Yjs will decode it; ASCII without decoding. */
function readStringLength(decoder: decoding.Decoder): number {
  const start = decoder.pos
  const bytes = decoding.readVarUint(decoder)
  const from = decoder.pos
  const to = from + bytes
  if (to > decoder.arr.length) throw new MalformedUpdate('malformed update: string past the end')
  const arr = decoder.arr
  for (let i = from; i < to; i++) {
    if (arr[i] >= 0x80) {
      decoder.pos = start
      return decoding.readVarString(decoder).length
    }
  }
  decoder.pos = to
  return bytes
}

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
      // The length in UTF-16 units decides later clocks, so it must be exactly Yjs' length.
      struct.length = readStringLength(decoder)
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
        const value = readAny(decoder)
        if (values) values[i] = value
      }
      struct.values = values
      struct.length = len
      break
    }
    case SUBDOC:
      decoding.readVarString(decoder)
      readAny(decoder)
      break
    default:
      throw new MalformedUpdate(`malformed update: unknown content ${struct.content}`)
  }
}

/**
 * lib0's readAny, value for value (including its plain-object assignment of keys), with
 * ASCII strings built without a TextDecoder call: JSON-heavy updates are mostly short ASCII.
 */
function readAny(decoder: decoding.Decoder): unknown {
  const tag = decoding.readUint8(decoder)
  switch (tag) {
    case 127: return undefined
    case 126: return null
    case 125: return decoding.readVarInt(decoder)
    case 124: return decoding.readFloat32(decoder)
    case 123: return decoding.readFloat64(decoder)
    case 122: return decoding.readBigInt64(decoder)
    case 121: return false
    case 120: return true
    case 119: return readString(decoder)
    case 118: {
      const len = decoding.readVarUint(decoder)
      const obj: Record<string, unknown> = {}
      for (let i = 0; i < len; i++) {
        const key = readString(decoder)
        obj[key] = readAny(decoder)
      }
      return obj
    }
    case 117: {
      const len = decoding.readVarUint(decoder)
      const arr: unknown[] = []
      for (let i = 0; i < len; i++) arr.push(readAny(decoder))
      return arr
    }
    case 116: return decoding.readVarUint8Array(decoder)
    default: throw new MalformedUpdate(`malformed update: unknown value tag ${tag}`)
  }
}

/** lib0's readVarString; short ASCII strings are built directly. */
function readString(decoder: decoding.Decoder): string {
  const start = decoder.pos
  const bytes = decoding.readVarUint(decoder)
  const arr = decoder.arr
  const from = decoder.pos
  if (bytes <= 64 && from + bytes <= arr.length) {
    let ascii = true
    for (let i = from; i < from + bytes; i++) {
      if (arr[i] >= 0x80) {
        ascii = false
        break
      }
    }
    if (ascii) {
      let text = ''
      for (let i = from; i < from + bytes; i++) text += String.fromCharCode(arr[i])
      decoder.pos = from + bytes
      return text
    }
  }
  decoder.pos = start
  return decoding.readVarString(decoder)
}
