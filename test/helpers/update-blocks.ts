// Hand-made Yjs v1 updates, block by block: every struct kind Yjs reads (GC, Skip and items with
// any content), any start clock (offsets, overlaps, gaps), several blocks for one client (Yjs
// keeps the last), and values given as raw bytes (nesting no encoder would write). The inverse,
// `decodeBlocks`, reads any update into the same form (through Yjs' own reader), so honest
// updates can be mutated and re-encoded.
import * as encoding from 'lib0/encoding'
import * as Y from 'yjs'
import { writeDeleteSet } from './guard.ts'

export type Id = readonly [client: number, clock: number]

export const TYPE_REFS = { array: 0, map: 1, text: 2, xmlElement: 3, xmlFragment: 4, xmlHook: 5, xmlText: 6 } as const
export type TypeName = keyof typeof TYPE_REFS

export type Content =
  | { any: unknown[] }
  /** ANY content whose values are given already encoded (lib0 writeAny format). */
  | { anyRaw: Uint8Array[] }
  | { string: string }
  | { deleted: number }
  | { type: TypeName; name?: string }
  | { json: unknown[] }
  | { binary: Uint8Array }
  | { embed: unknown }
  | { format: string; value: unknown }
  | { doc: string }

export interface ItemStruct {
  origin?: Id
  rightOrigin?: Id
  /** A root name or the id of the parent type's item; only written when there are no origins. */
  parent?: string | Id
  parentSub?: string
  content: Content
}

export type Struct = { gc: number } | { skip: number } | ItemStruct

/** One block of an update: structs of one client, contiguous from `clock`. */
export interface Block {
  client: number
  clock: number
  structs: Struct[]
}

export interface Range {
  client: number
  clock: number
  len: number
}

export interface Blocks {
  blocks: Block[]
  deletes: Range[]
}

export const isItem = (s: Struct): s is ItemStruct => 'content' in s

/** The clocks a struct takes, as Yjs counts them (strings in UTF-16 units). */
export function structLength(s: Struct): number {
  if ('gc' in s) return s.gc
  if ('skip' in s) return s.skip
  const c = s.content
  if ('any' in c) return c.any.length
  if ('anyRaw' in c) return c.anyRaw.length
  if ('string' in c) return c.string.length
  if ('deleted' in c) return c.deleted
  if ('json' in c) return c.json.length
  return 1
}

export const blockEnd = (b: Block): number => b.structs.reduce((clock, s) => clock + structLength(s), b.clock)

const CONTENT_REFS = { deleted: 1, json: 2, binary: 3, string: 4, embed: 5, format: 6, type: 7, any: 8, anyRaw: 8, doc: 9 } as const

function contentRef(c: Content): number {
  for (const key of Object.keys(CONTENT_REFS) as Array<keyof typeof CONTENT_REFS>) if (key in c) return CONTENT_REFS[key]
  throw new Error(`unknown content ${JSON.stringify(c)}`)
}

/** Encodes blocks (in the order given, one client may appear twice) and delete ranges into a v1 update. */
export function encodeBlocks({ blocks, deletes }: Blocks): Uint8Array {
  const encoder = encoding.createEncoder()
  encoding.writeVarUint(encoder, blocks.length)
  for (const block of blocks) {
    encoding.writeVarUint(encoder, block.structs.length)
    encoding.writeVarUint(encoder, block.client)
    encoding.writeVarUint(encoder, block.clock)
    for (const s of block.structs) writeStruct(encoder, s)
  }
  writeDeleteSet(encoder, deletes)
  return encoding.toUint8Array(encoder)
}

function writeStruct(encoder: encoding.Encoder, s: Struct): void {
  if ('gc' in s) {
    encoding.writeUint8(encoder, 0)
    encoding.writeVarUint(encoder, s.gc)
    return
  }
  if ('skip' in s) {
    encoding.writeUint8(encoder, 10)
    encoding.writeVarUint(encoder, s.skip)
    return
  }
  const c = s.content
  const withParent = !s.origin && !s.rightOrigin
  encoding.writeUint8(encoder, contentRef(c) | (s.origin ? 128 : 0) | (s.rightOrigin ? 64 : 0) | (withParent && s.parentSub !== undefined ? 32 : 0))
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
      const parent = s.parent ?? [0, 0]
      encoding.writeVarUint(encoder, 0)
      encoding.writeVarUint(encoder, parent[0])
      encoding.writeVarUint(encoder, parent[1])
    }
    if (s.parentSub !== undefined) encoding.writeVarString(encoder, s.parentSub)
  }
  if ('any' in c) {
    encoding.writeVarUint(encoder, c.any.length)
    for (const v of c.any) encoding.writeAny(encoder, v as never)
  } else if ('anyRaw' in c) {
    encoding.writeVarUint(encoder, c.anyRaw.length)
    for (const v of c.anyRaw) encoding.writeUint8Array(encoder, v)
  } else if ('string' in c) encoding.writeVarString(encoder, c.string)
  else if ('deleted' in c) encoding.writeVarUint(encoder, c.deleted)
  else if ('type' in c) {
    encoding.writeVarUint(encoder, TYPE_REFS[c.type])
    if (c.type === 'xmlElement' || c.type === 'xmlHook') encoding.writeVarString(encoder, c.name ?? 'paragraph')
  } else if ('json' in c) {
    encoding.writeVarUint(encoder, c.json.length)
    for (const v of c.json) encoding.writeVarString(encoder, v === undefined ? 'undefined' : JSON.stringify(v))
  } else if ('binary' in c) encoding.writeVarUint8Array(encoder, c.binary)
  else if ('embed' in c) encoding.writeVarString(encoder, JSON.stringify(c.embed))
  else if ('format' in c) {
    encoding.writeVarString(encoder, c.format)
    encoding.writeVarString(encoder, JSON.stringify(c.value))
  } else {
    encoding.writeVarString(encoder, c.doc)
    encoding.writeAny(encoder, {})
  }
}

/** One value in lib0's writeAny format. */
export function anyBytes(value: unknown): Uint8Array {
  const encoder = encoding.createEncoder()
  encoding.writeAny(encoder, value as never)
  return encoding.toUint8Array(encoder)
}

/** An array nested `depth` levels deep around `leaf`, encoded directly (no recursion, so any depth). */
export function nestedArrayBytes(depth: number, leaf: unknown = 0): Uint8Array {
  const encoder = encoding.createEncoder()
  for (let i = 0; i < depth; i++) {
    encoding.writeUint8(encoder, 117) // array
    encoding.writeVarUint(encoder, 1)
  }
  encoding.writeAny(encoder, leaf as never)
  return encoding.toUint8Array(encoder)
}

/** An object with `fields` (encoded as given) and one more key whose value is already encoded. */
export function objectWithRawBytes(fields: Record<string, unknown>, key: string, raw: Uint8Array): Uint8Array {
  const encoder = encoding.createEncoder()
  encoding.writeUint8(encoder, 118) // object
  encoding.writeVarUint(encoder, Object.keys(fields).length + 1)
  for (const [k, v] of Object.entries(fields)) {
    encoding.writeVarString(encoder, k)
    encoding.writeAny(encoder, v as never)
  }
  encoding.writeVarString(encoder, key)
  encoding.writeUint8Array(encoder, raw)
  return encoding.toUint8Array(encoder)
}

const TYPE_NAMES_BY_CLASS: Array<[abstract new (...args: any[]) => Y.AbstractType<any>, TypeName]> = [
  [Y.XmlText, 'xmlText'], [Y.XmlHook, 'xmlHook'], [Y.XmlElement, 'xmlElement'], [Y.XmlFragment, 'xmlFragment'],
  [Y.Array, 'array'], [Y.Map, 'map'], [Y.Text, 'text'],
]

function contentOf(item: Y.Item): Content {
  const c = item.content
  if (c instanceof Y.ContentAny) return { any: [...c.arr] }
  if (c instanceof Y.ContentString) return { string: c.str }
  if (c instanceof Y.ContentDeleted) return { deleted: c.len }
  if (c instanceof Y.ContentJSON) return { json: [...c.arr] }
  if (c instanceof Y.ContentBinary) return { binary: c.content }
  if (c instanceof Y.ContentEmbed) return { embed: c.embed }
  if (c instanceof Y.ContentFormat) return { format: c.key, value: c.value }
  if (c instanceof Y.ContentDoc) return { doc: c.doc?.guid ?? 'doc' }
  if (c instanceof Y.ContentType) {
    const type = c.type
    const found = TYPE_NAMES_BY_CLASS.find(([cls]) => type instanceof cls)
    if (!found) throw new Error('unknown type')
    const name = found[1] === 'xmlElement' ? (type as Y.XmlElement).nodeName : found[1] === 'xmlHook' ? (type as Y.XmlHook).hookName : undefined
    return name === undefined ? { type: found[1] } : { type: found[1], name }
  }
  throw new Error('unknown content')
}

/** Any v1 update as blocks (one per run of a client's structs, in the update's order) and delete ranges. */
export function decodeBlocks(update: Uint8Array): Blocks {
  const { structs, ds } = Y.decodeUpdate(update)
  const blocks: Block[] = []
  let current: Block | undefined
  for (const s of structs) {
    if (!current || current.client !== s.id.client || blockEnd(current) !== s.id.clock) {
      current = { client: s.id.client, clock: s.id.clock, structs: [] }
      blocks.push(current)
    }
    if (s instanceof Y.GC) current.structs.push({ gc: s.length })
    else if (s instanceof Y.Skip) current.structs.push({ skip: s.length })
    else {
      const item = s as Y.Item
      const struct: ItemStruct = { content: contentOf(item) }
      if (item.origin) struct.origin = [item.origin.client, item.origin.clock]
      if (item.rightOrigin) struct.rightOrigin = [item.rightOrigin.client, item.rightOrigin.clock]
      if (!item.origin && !item.rightOrigin) {
        const parent = item.parent as unknown
        struct.parent = typeof parent === 'string' ? parent : parent instanceof Y.ID ? [parent.client, parent.clock] : undefined
        if (item.parentSub !== null) struct.parentSub = item.parentSub
      }
      current.structs.push(struct)
    }
  }
  const deletes: Range[] = []
  for (const [client, list] of ds.clients) for (const d of list) deletes.push({ client, clock: d.clock, len: d.len })
  return { blocks, deletes }
}

/** A short, readable listing of an update (for failure reports). */
export function describeUpdate(update: Uint8Array): string {
  let parts: string[]
  try {
    const { blocks, deletes } = decodeBlocks(update)
    parts = blocks.map((b) => {
      let clock = b.clock
      const structs = b.structs.map((s) => {
        const at = `${b.client}:${clock}`
        clock += structLength(s)
        if ('gc' in s) return `${at} GC(${s.gc})`
        if ('skip' in s) return `${at} Skip(${s.skip})`
        const where = [
          s.origin ? `origin ${s.origin.join(':')}` : '',
          s.rightOrigin ? `right ${s.rightOrigin.join(':')}` : '',
          s.parent !== undefined ? `parent ${typeof s.parent === 'string' ? s.parent : s.parent.join(':')}` : '',
          s.parentSub !== undefined ? `sub ${JSON.stringify(s.parentSub)}` : '',
        ].filter(Boolean).join(' ')
        return `${at} ${where} ${short(JSON.stringify(s.content, (_k, v) => (v instanceof Uint8Array ? `<${v.length} bytes>` : typeof v === 'bigint' ? `${v}n` : v)))}`
      })
      return structs.join('; ')
    })
    if (deletes.length > 0) parts.push(`delete ${deletes.map((d) => `${d.client}:${d.clock}+${d.len}`).join(', ')}`)
  } catch (error) {
    parts = [`(Yjs cannot read it: ${(error as Error).message})`]
  }
  return parts.join(' | ')
}

const short = (text: string, max = 160): string => (text.length > max ? `${text.slice(0, max)}…` : text)

export const toHex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex')
export const fromHex = (hex: string): Uint8Array => new Uint8Array(Buffer.from(hex, 'hex'))
