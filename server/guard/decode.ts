// A lean reader of Yjs v1 updates for the write guard. It reads exactly the bytes Yjs' own
// reader (`readClientsStructRefs` in yjs/src/utils/encoding.js) reads, in the same order and to
// the same values (ASCII strings take a shortcut), but keeps only what the server does not have
// yet, and values only where a rule may need them.
//
// Layout of a v1 update, as read here:
//
//   update      := varUint(blocks) block* deleteSet
//   block       := varUint(structs) varUint(client) varUint(clock) struct*
//   struct      := info:uint8 ( GC: varUint(len) | Skip (info 10): varUint(len) | item )
//   item        := [origin: varUint varUint]       if info & 128
//                  [rightOrigin: varUint varUint]  if info & 64
//                  [parent]                        if neither origin is present:
//                     varUint(1) varString(root) | varUint(0) varUint(client) varUint(clock)
//                     [varString(parentSub)]       if info & 32
//                  content (kind = info & 31)
//   deleteSet   := varUint(clients) (varUint(client) varUint(n) (varUint(clock) varUint(len)){n})*
//
// Besides reading, it enforces what the loader must be able to read back: a bounded nesting
// depth of every value (Yjs reads values recursively, and so does JSON.stringify when it encodes
// embeds), and what a client may add in one update: a bounded number of new structs and a
// bounded size per new value. Known structs are checked for their dependencies here, since the
// guard keeps nothing else of them: Yjs looks those up even for structs it already has.
import * as decoding from 'lib0/decoding'
import * as Y from 'yjs'

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
  /** Client ids the update adds anything under (an item, a GC or a Skip at clocks the server has not seen). */
  written: Set<number>
  /** Number of new structs, and the bytes they take in the update. */
  structs: number
  bytes: number
}

/** Bytes Yjs would fail on, or could not read back later. */
export class MalformedUpdate extends Error {}

/** An update over a size limit: the reason starts with `too-large:`. */
export class OversizedUpdate extends Error {}

export interface DecodeLimits {
  /** Deepest nesting of arrays and objects in any value (known or new). */
  valueDepth: number
  /** Largest encoded size of one new value, in bytes. */
  valueBytes: number
  /** Most new structs one update may carry. */
  updateStructs: number
}

/** Longest map key (the surfaces' keys are ids and `<user>:<id>` pairs, far shorter). */
export const MAX_KEY_LENGTH = 512

export const DEFAULT_DECODE_LIMITS: DecodeLimits = { valueDepth: 16, valueBytes: 256 * 1024, updateStructs: 20_000 }

/**
 * Decodes `update`; `state(client)` is the server's next expected clock for a client, so structs
 * below it are skipped without being kept. Throws MalformedUpdate where Yjs would fail and
 * OversizedUpdate over a limit.
 */
export function decodeUpdate(update: Uint8Array, state: (client: number) => number, limits: DecodeLimits = DEFAULT_DECODE_LIMITS): DecodedUpdate {
  const decoder = decoding.createDecoder(update)
  const clients = new Map<number, NewStruct[]>()
  const written = new Set<number>()
  const reader = new ValueReader(limits.valueDepth)
  let newStructs = 0
  let newBytes = 0
  try {
    const blocks = decoding.readVarUint(decoder)
    for (let b = 0; b < blocks; b++) {
      const count = decoding.readVarUint(decoder)
      const client = decoding.readVarUint(decoder)
      let clock = decoding.readVarUint(decoder)
      const known = state(client)
      const structs: NewStruct[] = []
      for (let i = 0; i < count; i++) {
        const start = decoder.pos
        const info = decoding.readUint8(decoder)
        const kind = info & 31
        if (info === 10) {
          const length = decoding.readVarUint(decoder) // a Skip: nothing to apply, but it claims clocks
          if (clock + length > known) written.add(client)
          clock += length
          continue
        }
        if (kind === GC) {
          const length = decoding.readVarUint(decoder)
          if (length === 0) throw new MalformedUpdate('malformed update: empty struct')
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
          if ((info & 32) === 32) {
            struct.parentSub = readString(decoder)
            if (struct.parentSub.length > MAX_KEY_LENGTH) throw new OversizedUpdate(`too-large: a map key of ${struct.parentSub.length} characters exceeds ${MAX_KEY_LENGTH}`)
          }
        }
        readContent(decoder, struct, known - clock, reader, limits)
        if (struct.length === 0) throw new MalformedUpdate('malformed update: empty struct')
        if (clock + struct.length > known) {
          struct.known = Math.max(0, known - clock)
          structs.push(struct)
        } else if (dependsOnUnknown(struct, state)) {
          throw new MalformedUpdate(`malformed update: struct ${client}:${clock}, which the server has, names an item it does not have`)
        }
        clock += struct.length
        if (clock > known) {
          newBytes += decoder.pos - start
          if (++newStructs > limits.updateStructs) throw new OversizedUpdate(`too-large: update carries more than ${limits.updateStructs} new structs`)
        }
      }
      // Yjs keeps only the last block of a client; so do we.
      clients.set(client, structs)
    }
    for (const [client, structs] of clients) if (structs.length > 0) written.add(client)
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
    return { clients, deletes, written, structs: newStructs, bytes: newBytes }
  } catch (error) {
    if (error instanceof MalformedUpdate || error instanceof OversizedUpdate) throw error
    throw new MalformedUpdate(`malformed update: ${(error as Error).message}`)
  }
}

/**
 * Yjs resolves the origins and parent of every struct it reads, also of those it already has
 * (Item.getMissing): one naming an item the server lacks would wait in the pending queue and
 * hold back the rest of its client's structs. A struct the server really has was integrated with
 * all its dependencies, so an honest resend never names an unknown one.
 */
function dependsOnUnknown(struct: NewStruct, state: (client: number) => number): boolean {
  return (
    (struct.originClient >= 0 && struct.originClock >= state(struct.originClient)) ||
    (struct.rightClient >= 0 && struct.rightClock >= state(struct.rightClient)) ||
    (struct.parentClient >= 0 && struct.parentClock >= state(struct.parentClient))
  )
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
function readContent(decoder: decoding.Decoder, struct: NewStruct, knownLength: number, reader: ValueReader, limits: DecodeLimits): void {
  switch (struct.content) {
    case DELETED:
      struct.length = decoding.readVarUint(decoder)
      break
    case JSON_CONTENT: {
      const len = decoding.readVarUint(decoder)
      for (let i = 0; i < len; i++) {
        const text = decoding.readVarString(decoder)
        if (text !== 'undefined') reader.checkJson(text)
      }
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
      reader.checkJson(decoding.readVarString(decoder))
      break
    case FORMAT:
      decoding.readVarString(decoder)
      reader.checkJson(decoding.readVarString(decoder))
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
        const start = decoder.pos
        const value = reader.read(decoder)
        if (i >= knownLength && decoder.pos - start > limits.valueBytes) {
          throw new OversizedUpdate(`too-large: a value of ${decoder.pos - start} bytes exceeds ${limits.valueBytes}`)
        }
        if (values) values[i] = value
      }
      struct.values = values
      struct.length = len
      break
    }
    case SUBDOC:
      decoding.readVarString(decoder)
      reader.read(decoder)
      break
    default:
      throw new MalformedUpdate(`malformed update: unknown content ${struct.content}`)
  }
}

/**
 * lib0's readAny, value for value (including its plain-object assignment of keys), with
 * ASCII strings built without a TextDecoder call (JSON-heavy updates are mostly short ASCII),
 * and a nesting bound: lib0 reads nested values recursively, so a deep enough value overflows
 * the stack of whoever reads it back.
 */
class ValueReader {
  private readonly maxDepth: number

  constructor(maxDepth: number) {
    this.maxDepth = maxDepth
  }

  read(decoder: decoding.Decoder, depth = 0): unknown {
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
        this.enter(depth)
        const len = decoding.readVarUint(decoder)
        const obj: Record<string, unknown> = {}
        for (let i = 0; i < len; i++) {
          const key = readString(decoder)
          // Assigning to __proto__ changes the prototype or does nothing: what is stored would not be what decodes.
          if (key === '__proto__') throw new MalformedUpdate('malformed update: a value has a __proto__ key')
          obj[key] = this.read(decoder, depth + 1)
        }
        return obj
      }
      case 117: {
        this.enter(depth)
        const len = decoding.readVarUint(decoder)
        const arr: unknown[] = []
        for (let i = 0; i < len; i++) arr.push(this.read(decoder, depth + 1))
        return arr
      }
      case 116: return decoding.readVarUint8Array(decoder)
      default: throw new MalformedUpdate(`malformed update: unknown value tag ${tag}`)
    }
  }

  /** Embeds, formats and legacy JSON content: parsed as Yjs parses them, nesting bounded likewise. */
  checkJson(text: string): void {
    // Depth is counted on the text, without recursion: brackets outside strings.
    let depth = 0
    let inString = false
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i)
      if (inString) {
        if (c === 92) i++ // backslash: skip the escaped character
        else if (c === 34) inString = false
      } else if (c === 34) inString = true
      else if (c === 91 || c === 123) {
        if (++depth > this.maxDepth) throw this.tooDeep()
      } else if (c === 93 || c === 125) depth--
    }
    JSON.parse(text)
  }

  private enter(depth: number): void {
    if (depth >= this.maxDepth) throw this.tooDeep()
  }

  private tooDeep(): OversizedUpdate {
    return new OversizedUpdate(`too-large: a value nests deeper than ${this.maxDepth} levels`)
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

/**
 * Whether applying the update would change nothing: no new struct, and every range it deletes is
 * deleted in the document already. A client sends such updates when it resends what the server
 * received before its acknowledgement was lost (a reconnect, perhaps to another instance).
 */
export function addsNothing(decoded: DecodedUpdate, store: Y.Doc['store']): boolean {
  if (decoded.structs > 0) return false
  return decoded.deletes.every(({ client, clock, len }) => deletedAlready(store, client, clock, len))
}

function deletedAlready(store: Y.Doc['store'], client: number, clock: number, len: number): boolean {
  const structs = store.clients.get(client)
  if (!structs || Y.getState(store, client) < clock + len) return false
  for (let i = Y.findIndexSS(structs, clock); i < structs.length && structs[i].id.clock < clock + len; i++) {
    if (!structs[i].deleted) return false
  }
  return true
}
