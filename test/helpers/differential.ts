// The write guard, checked against what Yjs really does. A simulated server (a Y.Doc with a client
// id of its own, an owners map standing in for the store, related documents and freezes as facts)
// receives sequences of updates from users with real replicas: honest edits made through the Yjs
// API at paths each user may write, and hostile ones (random edits anywhere, hand-made structs,
// mutated honest updates). For every update the truth is computed by applying it to a copy of the
// server's document and reloading the result from its encoding (what storage gives back), and the
// difference is judged path by path against the surface's rules. See test/guard-differential.test.ts.
import * as Y from 'yjs'
import { resolve } from '../../docs-model/registry.ts'
import { grantingRules, userCanWrite, writeContext, type Path } from '../../docs-model/rules.ts'
import type { DocRef, Facts, Identity, Op, Role, ServerTime, Surface, WriteContext, WriteRule } from '../../docs-model/types.ts'
import { inspectUpdate, SERVER_OWNER, type Owners, type Verdict } from '../../server/guard/check.ts'
import type { DecodeLimits } from '../../server/guard/decode.ts'
import {
  anyBytes, blockEnd, decodeBlocks, describeUpdate, encodeBlocks, isItem, nestedArrayBytes, objectWithRawBytes, structLength, toHex,
  type Block, type Blocks, type Content, type Id, type ItemStruct, type Range, type Struct, type TypeName,
} from './update-blocks.ts'
import { Rng } from './random.ts'

/** The simulated server's clock, which client-written times are judged against (a fixed instant: every case replays alike). */
export const SERVER_TIME: ServerTime = { now: () => Date.parse('2026-03-02T09:00:00Z'), skewMs: 300_000 }

/**
 * Whether a top-level value carries a client time outside the window around `time`: its `at` field,
 * or the value itself at a key named `at`. Read here apart from the guard's clockSkew: numbers are
 * milliseconds, strings parse as dates, anything else (or an unparsable string) is outside.
 */
function outsideClockWindow(path: Path, value: unknown, time: ServerTime): boolean {
  let at: unknown
  if (path[path.length - 1] === 'at') at = value
  else if (value !== null && typeof value === 'object' && !Array.isArray(value) && !(value instanceof Uint8Array) && Object.hasOwn(value, 'at')) at = (value as { at: unknown }).at
  else return false
  const ms = typeof at === 'number' && at >= 0 ? at : typeof at === 'string' ? Date.parse(at) : Number.NaN
  return !(Math.abs(ms - time.now()) <= time.skewMs)
}

export const person = (sub: string, role: Role, extra: Partial<Identity> = {}): Identity => ({
  sub, name: sub, role, schools: ['s1'], classes: [], children: [], buses: [], ...extra,
})

// ---------------------------------------------------------------------------------------------
// Scenarios: one per surface, declared in differential-scenarios.ts

/** What an honest action sees: the user's replica, and may-write answers as the client helper gives them. */
export interface Honest {
  /** The replica; edits go here. */
  doc: Y.Doc
  user: Identity
  rng: Rng
  /** A fresh number, for ids and values. */
  n(): number
  /** userCanWrite on the replica as it was before this update (as a client decides, without server facts). */
  may(path: Path, op?: Op): boolean
  /** may(path, 'delete'), and where only owner rules grant it, the value is the user's. */
  mayDelete(path: Path, value: unknown): boolean
  /** The server's copy of a related document (what the client would read from it). */
  related(name: string): Y.Doc | undefined
  /** The other users of the scenario. */
  others: string[]
  /** Every (path, op) may() and mayDelete() allowed: what this edit means to write. */
  intent: Intent
}

/** Performs one edit on h.doc when it applies; false when it does not (nothing changed). */
export type HonestAction = (h: Honest) => boolean

export interface Scenario {
  /** The document name. */
  name: string
  users: Identity[]
  /** Related documents as the server holds them at the start. */
  related?: Record<string, (doc: Y.Doc) => void>
  /** Content the server's API and observers wrote before any user (under the server's client id). */
  setup?: (doc: Y.Doc, rng: Rng) => void
  /** Content written before client ids were owned (under an id nobody owns). */
  legacy?: (doc: Y.Doc) => void
  /** One write by the server's observers. */
  serverWrite?: (doc: Y.Doc, rng: Rng, n: number) => void
  /** A change of facts: a related document changes, or the server freezes or thaws one. */
  relatedWrite?: (world: World, rng: Rng) => void
  honest: HonestAction[]
  /** Two phases of an insert the same user continues (a struct that grows): phase 1 types right after phase 0. */
  grow?: (h: Honest, phase: 0 | 1, memo: Record<string, unknown>) => boolean
  /** A plausible value for root/key as `sub` would write it (for hostile updates to mutate). */
  sample: (root: string, key: string | null, rng: Rng, sub: string) => unknown
  /** A text shared by several writers (doc body): the concurrent deletion pattern runs on it. */
  sharedText?: boolean
}

// ---------------------------------------------------------------------------------------------
// Snapshots of a document, path by path

/** One visible value: a map entry's current value, a list element, a character, a type. */
export interface Elem {
  /** id and shown value: the identity compared across snapshots. */
  key: string
  id: string
  path: Path
  /** A map entry (vs a list, text or XML element). */
  entry: boolean
  /** For entries: the container and key, to tell an overwrite from a removal. */
  slot: string | null
  /** Directly inside a root. */
  top: boolean
  content: 'any' | 'string' | 'type' | 'json' | 'binary' | 'embed' | 'format' | 'doc'
  value: unknown
  show: string
  /** Keys of the types this value is inside, outermost first. */
  ancestors: string[]
}

export interface Snapshot {
  elems: Map<string, Elem>
  /** Entry slot -> key of its current value. */
  entries: Map<string, string>
  /** Container -> its visible text, in order. */
  texts: Map<string, string>
  /** List or map key -> the order of all its items, deleted ones included, as runs of ids (however items are split or merged). */
  chains: Map<string, string>
  sv: Map<number, number>
}

export function show(value: unknown): string {
  try {
    const text = JSON.stringify(value, (_k, v) => (v instanceof Uint8Array ? `<bytes ${Buffer.from(v).toString('hex')}>` : typeof v === 'bigint' ? `${v}n` : v === undefined ? '<undefined>' : v))
    return text === undefined ? '<undefined>' : text
  } catch (error) {
    return `<unshowable: ${(error as Error).message}>`
  }
}

const typeLabel = (type: Y.AbstractType<any>): string => {
  if (type instanceof Y.XmlElement) return `<XmlElement ${type.nodeName}>`
  if (type instanceof Y.XmlHook) return `<XmlHook ${type.hookName}>`
  return `<${type.constructor.name}>`
}

export function snapshot(doc: Y.Doc): Snapshot {
  const snap: Snapshot = { elems: new Map(), entries: new Map(), texts: new Map(), chains: new Map(), sv: Y.decodeStateVector(Y.encodeStateVector(doc)) }
  const budget = { left: 1_000_000 }
  for (const [name, type] of doc.share) walkType(snap, type, [name], [], true, name, budget)
  return snap
}

/** The items from `first` rightwards as runs of ids: the same order gives the same text however items are split or merged. */
function chainOf(first: Y.Item | null, budget: { left: number }): string {
  const runs: Array<[number, number, number]> = []
  for (let item = first; item !== null; item = item.right) {
    if (--budget.left < 0) throw new Error('a cycle in a list')
    const last = runs[runs.length - 1]
    if (last && last[0] === item.id.client && last[1] + last[2] === item.id.clock) last[2] += item.length
    else runs.push([item.id.client, item.id.clock, item.length])
  }
  return runs.map(([client, clock, len]) => `${client}:${clock}+${len}`).join(' ')
}

function walkType(snap: Snapshot, type: Y.AbstractType<any>, path: Path, ancestors: string[], top: boolean, container: string, budget: { left: number }): void {
  for (const [key, current] of type._map) {
    let first: Y.Item = current
    while (first.left !== null) first = first.left
    snap.chains.set(`${container}\u0000${key}`, chainOf(first, budget))
    if (current.deleted) continue
    addItem(snap, current, [...path, key], true, `${container}\u0000${key}`, ancestors, top, budget)
  }
  if (type._start !== null) snap.chains.set(container, chainOf(type._start, budget))
  let text = ''
  for (let item = type._start; item !== null; item = item.right) {
    if (--budget.left < 0) throw new Error('a cycle in a list')
    if (item.deleted) continue
    if (item.content instanceof Y.ContentString) text += item.content.str
    addItem(snap, item, path, false, null, ancestors, top, budget)
  }
  if (text !== '') snap.texts.set(container, text)
}

function addItem(snap: Snapshot, item: Y.Item, path: Path, entry: boolean, slot: string | null, ancestors: string[], top: boolean, budget: { left: number }): void {
  const { client, clock } = item.id
  const add = (offset: number, content: Elem['content'], value: unknown, shown = show(value)): Elem => {
    const id = `${client}:${clock + offset}`
    const elem: Elem = { key: `${id}=${shown}`, id, path, entry, slot, top, content, value, show: shown, ancestors }
    snap.elems.set(elem.key, elem)
    if (slot !== null) snap.entries.set(slot, elem.key)
    return elem
  }
  const c = item.content
  if (c instanceof Y.ContentAny || c instanceof Y.ContentJSON || c instanceof Y.ContentString) {
    const values: unknown[] = c.getContent()
    const kind = c instanceof Y.ContentString ? 'string' : c instanceof Y.ContentAny ? 'any' : 'json'
    if (entry) add(values.length - 1, kind, values[values.length - 1])
    else values.forEach((v, i) => add(i, kind, v))
  } else if (c instanceof Y.ContentType) {
    const elem = add(0, 'type', null, typeLabel(c.type))
    walkType(snap, c.type, path, [...ancestors, elem.key], false, elem.id, budget)
  } else if (c instanceof Y.ContentEmbed) add(0, 'embed', c.embed)
  else if (c instanceof Y.ContentFormat) add(0, 'format', { [c.key]: c.value })
  else if (c instanceof Y.ContentBinary) add(0, 'binary', c.content)
  else if (c instanceof Y.ContentDoc) add(0, 'doc', null, `<doc ${c.doc?.guid}>`)
}

/**
 * Items new since `before` whose origin does not end up left of them, or whose right origin does
 * not end up right of them, in the same list or map key. Yjs (YATA) places an item between the
 * two, which holds for every item a client makes (they were its neighbours there); an item
 * naming two ids that never were neighbours is placed by the order of integration, so the server's
 * memory, its storage and other clients may each put it somewhere else.
 */
export function originsOutOfOrder(doc: Y.Doc, before: Map<number, number>): string[] {
  const position = new Map<Y.Item, { chain: number; index: number }>()
  let chains = 0
  const visit = (first: Y.Item | null) => {
    const chain = chains++
    let index = 0
    for (let item = first; item !== null; item = item.right) position.set(item, { chain, index: index++ })
  }
  const types: Y.AbstractType<any>[] = [...doc.share.values()]
  for (const structs of doc.store.clients.values()) {
    for (const s of structs) if (s instanceof Y.Item && s.content instanceof Y.ContentType) types.push(s.content.type)
  }
  for (const type of types) {
    visit(type._start)
    for (const current of type._map.values()) {
      let first: Y.Item = current
      while (first.left !== null) first = first.left
      visit(first)
    }
  }
  const found: string[] = []
  const find = (client: number, clock: number): Y.Item | null => {
    const structs = doc.store.clients.get(client)
    if (!structs || clock >= Y.getState(doc.store, client)) return null
    const s = structs[Y.findIndexSS(structs, clock)]
    return s instanceof Y.Item ? s : null
  }
  for (const [client, structs] of doc.store.clients) {
    const known = before.get(client) ?? 0
    for (const s of structs) {
      if (!(s instanceof Y.Item) || s.id.clock + s.length <= known) continue
      const at = position.get(s)
      if (!at) continue
      const origin = s.origin ? find(s.origin.client, s.origin.clock) : null
      const right = s.rightOrigin ? find(s.rightOrigin.client, s.rightOrigin.clock) : null
      const o = origin ? position.get(origin) : undefined
      const r = right ? position.get(right) : undefined
      if (o && (o.chain !== at.chain || o.index >= at.index)) found.push(`${client}:${s.id.clock} is not right of its origin ${s.origin!.client}:${s.origin!.clock}`)
      if (r && (r.chain !== at.chain || r.index <= at.index)) found.push(`${client}:${s.id.clock} is not left of its right origin ${s.rightOrigin!.client}:${s.rightOrigin!.clock}`)
    }
  }
  return found
}

export interface Change {
  op: Op
  elem: Elem
}

/** What changed from `before` to `after`: inserted values, and removed ones (an overwritten entry counts as an insert only). */
export function diff(before: Snapshot, after: Snapshot): Change[] {
  const changes: Change[] = []
  for (const [key, elem] of after.elems) if (!before.elems.has(key)) changes.push({ op: 'insert', elem })
  const gone = new Set<string>()
  for (const key of before.elems.keys()) if (!after.elems.has(key)) gone.add(key)
  for (const key of gone) {
    const elem = before.elems.get(key)!
    if (elem.ancestors.some((a) => gone.has(a))) continue // went with the value it was inside
    if (elem.slot !== null && after.entries.has(elem.slot)) continue // overwritten
    changes.push({ op: 'delete', elem })
  }
  return changes
}

/** Differences between two snapshots of what should be the same state. */
export function sameState(a: Snapshot, b: Snapshot): string | null {
  const onlyA = [...a.elems.keys()].filter((k) => !b.elems.has(k))
  const onlyB = [...b.elems.keys()].filter((k) => !a.elems.has(k))
  const texts = [...new Set([...a.texts.keys(), ...b.texts.keys()])].filter((k) => a.texts.get(k) !== b.texts.get(k))
  const svs = [...new Set([...a.sv.keys(), ...b.sv.keys()])].filter((c) => (a.sv.get(c) ?? 0) !== (b.sv.get(c) ?? 0))
  const chains = [...new Set([...a.chains.keys(), ...b.chains.keys()])].filter((k) => a.chains.get(k) !== b.chains.get(k))
  const parts: string[] = []
  const pathOf = (s: Snapshot, k: string) => s.elems.get(k)!.path.join('/')
  if (onlyA.length > 0) parts.push(`in memory only: ${onlyA.slice(0, 3).map((k) => `${pathOf(a, k)} ${short(k)}`).join(', ')}`)
  if (onlyB.length > 0) parts.push(`after reload only: ${onlyB.slice(0, 3).map((k) => `${pathOf(b, k)} ${short(k)}`).join(', ')}`)
  if (texts.length > 0) parts.push(`texts differ: ${texts.slice(0, 2).map((k) => `${short(a.texts.get(k) ?? '')} vs ${short(b.texts.get(k) ?? '')}`).join(', ')}`)
  if (svs.length > 0) parts.push(`state vectors differ for ${svs.join(', ')}`)
  if (chains.length > 0) {
    const k = chains[0]
    parts.push(`the order of items (deleted ones included) differs in ${chains.length} list(s) or key(s), e.g. ${k.replace('\u0000', ' key ')}: ${short(a.chains.get(k) ?? '-', 200)} in memory, ${short(b.chains.get(k) ?? '-', 200)} after reload`)
  }
  return parts.length > 0 ? parts.join('; ') : null
}

const short = (text: string, max = 90): string => (text.length > max ? `${text.slice(0, max)}…` : text)
const showPath = (path: Path): string => path.join('/')

// ---------------------------------------------------------------------------------------------
// The truth of one update, and what the rules say about it

export interface Truth {
  threw: string | null
  pending: boolean
  memory: Snapshot | null
  reloaded: Snapshot | null
  /** Changes from the server's state to the reloaded result. */
  changes: Change[]
  /** The reloaded result differs from the in-memory one. */
  divergence: string | null
  /** New items that are not between their origins after reload. */
  outOfOrder: string[]
}

/** Applies `update` to a copy of the server's document, and reloads the result from its encoding. */
export function truthOf(serverState: Uint8Array, before: Snapshot, update: Uint8Array): Truth {
  const copy = new Y.Doc()
  Y.applyUpdate(copy, serverState)
  let threw: string | null = null
  try {
    Y.applyUpdate(copy, update)
  } catch (error) {
    threw = `${(error as Error).constructor.name}: ${(error as Error).message}`
  }
  const pending = copy.store.pendingStructs !== null || copy.store.pendingDs !== null
  let memory: Snapshot | null = null
  let reloaded: Snapshot | null = null
  let outOfOrder: string[] = []
  try {
    memory = snapshot(copy)
    const fresh = new Y.Doc()
    Y.applyUpdate(fresh, Y.encodeStateAsUpdate(copy))
    reloaded = snapshot(fresh)
    outOfOrder = originsOutOfOrder(fresh, before.sv)
  } catch (error) {
    threw ??= `reload: ${(error as Error).constructor.name}: ${(error as Error).message}`
  }
  const changes = reloaded ? diff(before, reloaded) : []
  const divergence = memory && reloaded ? sameState(memory, reloaded) : null
  return { threw, pending, memory, reloaded, changes, divergence, outOfOrder }
}

/**
 * The first item, after applying `update` to a copy of the server's state, that sits in a list
 * its type's own methods never write: XML fragments and elements hold elements and text nodes,
 * texts hold strings, embeds and formats. Null when every XML and text root is as editors expect.
 */
export function unrenderable(serverState: Uint8Array, update: Uint8Array, surface: Surface): string | null {
  const copy = new Y.Doc()
  try {
    Y.applyUpdate(copy, serverState)
    Y.applyUpdate(copy, update)
  } catch {
    return null // judged elsewhere (an update Yjs throws on)
  }
  const visit = (type: Y.AbstractType<any>, path: string): string | null => {
    const xml = type instanceof Y.XmlFragment
    for (let item = type._start; item !== null; item = item.right) {
      const content = item.content
      if (content instanceof Y.ContentDeleted) continue
      const child = content instanceof Y.ContentType ? content.type : null
      const fits = xml ? child instanceof Y.XmlElement || child instanceof Y.XmlText : content instanceof Y.ContentString || content instanceof Y.ContentEmbed || content instanceof Y.ContentFormat
      if (!fits) return `${path}: ${content.constructor.name} at ${item.id.client}:${item.id.clock}`
      if (child && !item.deleted) {
        const inner = visit(child, `${path}/${child.constructor.name}`)
        if (inner) return inner
      }
    }
    return null
  }
  for (const [name, decl] of Object.entries(surface.layout)) {
    if (decl.kind !== 'xml' && decl.kind !== 'text') continue
    let root: Y.AbstractType<any>
    try {
      root = decl.kind === 'xml' ? copy.getXmlFragment(name) : copy.getText(name)
    } catch {
      continue // stored as another kind: the kind check's business
    }
    const found = visit(root, name)
    if (found) return found
  }
  return null
}

/** The open (not frozen) rules granting `op` at `path`, and the freeze reason when all granting rules are frozen. */
function openRules(surface: Surface, path: Path, op: Op, ctx: WriteContext): { open: WriteRule[]; frozen: string | null } {
  const granting = grantingRules(surface, path, op, ctx)
  const open = granting.filter((rule) => !rule.frozen?.(ctx))
  return { open, frozen: open.length === 0 && granting.length > 0 ? granting[0].frozen!(ctx) : null }
}

/** A breach of the rules in a truth: what a guard that accepted the update let through. */
export interface Breach {
  /** Short and free of ids: the class of the breach. */
  kind: string
  detail: string
  /** Set when the breach is a freeze the rules declare. */
  frozen?: string
}

/** Everything in `changes` the sender may not do, judged as the rules judge (ctx is the server's state before). */
export function breaches(surface: Surface, ctx: WriteContext, changes: Change[]): Breach[] {
  const found: Breach[] = []
  const sub = ctx.user.sub
  for (const { op, elem } of changes) {
    const path = elem.path
    const at = `${op} ${showPath(path)} ${short(elem.show, 60)}`
    const decl = surface.layout[path[0]]
    if (!decl) {
      found.push({ kind: 'write to a root not in the layout', detail: at })
      continue
    }
    if (elem.top && (decl.kind === 'map') !== elem.entry) {
      found.push({ kind: `${elem.entry ? 'a map entry' : 'a list element'} in a root declared as ${decl.kind}`, detail: at })
    }
    const { open, frozen } = openRules(surface, path, op, ctx)
    if (open.length === 0) {
      found.push({ kind: frozen ? `${op} where frozen` : `${op} at a path the sender may not ${op === 'insert' ? 'write' : 'delete'}`, detail: `${at}${frozen ? ` (${frozen})` : ''}`, frozen: frozen ?? undefined })
      continue
    }
    if (op === 'insert') {
      if (elem.top && decl.value) {
        if (elem.content !== 'any') found.push({ kind: 'a value that is not plain JSON at a root with a schema', detail: at })
        else {
          const parsed = decl.value.safeParse(elem.value)
          if (!parsed.success) found.push({ kind: 'a value the layout schema refuses', detail: `${at}: ${parsed.error.issues[0]?.message}` })
        }
      }
      if (ctx.time && elem.top && elem.content === 'any' && !decl.opaque && outsideClockWindow(path, elem.value, ctx.time)) found.push({ kind: 'a client time outside the window around the server clock', detail: at })
      if (elem.top && open.every((rule) => rule.value)) {
        const whys = open.map((rule) => (elem.content === 'any' ? rule.value!(elem.value, ctx, path) : 'not a plain value'))
        if (whys.every((why) => why !== null)) found.push({ kind: 'a value the rule refuses', detail: `${at}: ${whys[0]}` })
      }
    } else if (open.every((rule) => rule.owner)) {
      const value = elem.content === 'any' ? elem.value : undefined
      if (!open.some((rule) => rule.owner!(value) === sub)) found.push({ kind: "a delete of someone else's value", detail: at })
    }
  }
  return found
}

// ---------------------------------------------------------------------------------------------
// The simulated server

export interface UserState {
  who: Identity
  replica: Y.Doc
  /** The client id this user's hand-made updates use (owned once the first one is accepted). */
  hostileId: number
  /** Not connected: edits stay in the replica until it reconnects. */
  offline: boolean
  /** The replica has edits the server has not been sent. */
  unsent: boolean
  /** What the edits not yet acknowledged meant to write. */
  intent: Intent
}

export const LIMITS: DecodeLimits = { valueDepth: 16, valueBytes: 16 * 1024, updateStructs: 200 }

export type Kind = 'honest' | 'hostile'

export interface Failure {
  kind: string
  seed: string
  scenario: string
  caseIndex: number
  step: number
  label: string
  sender: string
  update: Uint8Array
  /** A smaller update with the same failure, when one was found. */
  minimal?: Uint8Array
  /** The server's document before the update (encoded), its client id, and the owners map. */
  serverState: Uint8Array
  serverClient: number
  owners: Array<[number, string]>
  expected: string
  actual: string
}

export interface Stats {
  cases: number
  updates: number
  honestAccepted: number
  honestRefused: Map<string, number>
  hostileAccepted: number
  hostileRefused: Map<string, number>
  /** Refused hostile updates whose truth breaks a rule (the guard stopped a real attack). */
  hostileHarmful: number
  generators: Map<string, { sent: number; refused: number }>
  /** Honest updates by how they were made (plain, concurrent, grown struct, offline...). */
  honestKinds: Map<string, number>
  /** What the updates carried, read with Yjs' own decoder against the server's state. */
  features: Map<string, number>
  restarts: number
  serverWrites: number
}

export const newStats = (): Stats => ({
  cases: 0, updates: 0, honestAccepted: 0, honestRefused: new Map(), hostileAccepted: 0, hostileRefused: new Map(), hostileHarmful: 0,
  generators: new Map(), honestKinds: new Map(), features: new Map(), restarts: 0, serverWrites: 0,
})

const bump = (map: Map<string, number>, key: string, by = 1) => map.set(key, (map.get(key) ?? 0) + by)

/** A refusal reason without ids, clocks and paths' specifics: the bucket it is counted in. */
export function reasonPrefix(reason: string): string {
  const colon = reason.indexOf(':')
  const word = reason.slice(0, colon)
  const rest = reason.slice(colon + 1).trim()
  if (word !== 'forbidden-write') return `${word}: ${rest.replace(/\d+/g, '#').replace(/\(.*$/, '').replace(/ at .*$/, '').trim()}`
  const paren = rest.match(/^[^ ]+ \((.*)\)$/)
  if (paren) return `forbidden-write: <path> (${paren[1].replace(/\d+/g, '#').replace(/ at [^:]+:.*$/, '').replace(/:.*$/, '').replace(/below #/, 'below #')})`
  if (/^[^ ]+$/.test(rest)) return 'forbidden-write: <path>'
  return `forbidden-write: ${rest.replace(/-?\d+/g, '#')}`
}

export interface Submission {
  verdict: Verdict
  truth: Truth
  /** For a refused honest edit: why refusing it is right. */
  excuse?: string
  failure: Omit<Failure, 'seed' | 'scenario' | 'caseIndex' | 'step' | 'label' | 'serverState' | 'serverClient' | 'owners'> | null
}

/** Everything the guard sees of the server at one moment: enough to judge an update again (to minimise a failure). */
export interface Moment {
  surface: Surface
  ref: DocRef
  server: Y.Doc
  state: Uint8Array
  before: Snapshot
  owners: Map<number, string>
  presence: (client: number) => string | undefined
  facts: Facts
}

/** Judges one update at one moment: the guard's verdict, the truth, and whether they disagree. */
export function judgeUpdate(m: Moment, sender: Identity, update: Uint8Array, kind: Kind, intent: Intent = []): Submission {
  const ownersView: Owners = { of: (c) => (c === m.server.clientID ? SERVER_OWNER : m.owners.get(c)), presence: m.presence }
  const ctx = writeContext(sender, m.ref, m.server, m.facts, SERVER_TIME)
  const base = { sender: sender.sub, update }
  let verdict: Verdict
  try {
    verdict = inspectUpdate(update, m.surface, ctx, { owners: ownersView, limits: LIMITS })
  } catch (error) {
    const truth = truthOf(m.state, m.before, update)
    return { verdict: { reason: `guard-threw: ${(error as Error).message}`, claims: [], structs: 0, bytes: 0 }, truth, failure: { ...base, kind: 'the guard threw', expected: 'a verdict', actual: `${(error as Error).stack}` } }
  }
  const truth = truthOf(m.state, m.before, update)
  if (Buffer.compare(Y.encodeStateAsUpdate(m.server), m.state) !== 0) {
    return { verdict, truth, failure: { ...base, kind: 'the guard changed the server document', expected: 'inspectUpdate leaves the document as it was', actual: 'its encoded state changed' } }
  }
  if (verdict.reason === null) {
    const problems: Array<[string, string]> = []
    if (truth.threw) problems.push(['accepted an update Yjs throws on', truth.threw])
    if (truth.pending) problems.push(['accepted an update that leaves structs or deletes pending', 'pendingStructs or pendingDs is set after applying'])
    if (truth.outOfOrder.length > 0) problems.push(['accepted an item that is not between its origin and right origin', truth.outOfOrder.slice(0, 3).join('; ')])
    if (truth.divergence) problems.push(['accepted an update whose stored result differs from the in-memory one', truth.divergence])
    const misplaced = unrenderable(m.state, update, m.surface)
    if (misplaced) problems.push(['accepted content its type cannot hold (editors cannot render it)', misplaced])
    const over = exceedsLimits(m.server, update)
    if (over) problems.push(['accepted an update over a declared limit', `${over} (limits ${JSON.stringify(LIMITS)})`])
    for (const b of breaches(m.surface, ctx, truth.changes)) problems.push([`accepted ${b.kind}`, b.detail])
    if (truth.reloaded) {
      for (const [client, clock] of truth.reloaded.sv) {
        const was = m.before.sv.get(client) ?? 0
        if (clock <= was) continue
        const owner = client === m.server.clientID ? SERVER_OWNER : m.owners.get(client)
        if (owner !== sender.sub && !verdict.claims.includes(client)) {
          problems.push([`accepted clocks under a client id the sender does not own`, `client ${client} (owner ${owner ?? 'nobody'}) advanced from ${was} to ${clock}`])
        }
      }
    }
    for (const client of verdict.claims) {
      const owner = client === m.server.clientID ? SERVER_OWNER : m.owners.get(client)
      const present = m.presence(client)
      if (owner !== undefined || (m.before.sv.get(client) ?? 0) > 0 || (present !== undefined && present !== sender.sub)) {
        problems.push(['claimed a client id that was not free', `client ${client}: owner ${owner}, state ${m.before.sv.get(client) ?? 0}, presence ${present}`])
      }
    }
    if (problems.length === 0) return { verdict, truth, failure: null }
    return {
      verdict, truth,
      failure: { ...base, kind: problems[0][0], expected: `refused (${problems.map(([k, d]) => `${k}: ${d}`).join('; ')})`, actual: 'accepted (reason null)' },
    }
  }
  if (kind === 'honest') {
    const excuse = honestExcuse(m, ctx, verdict.reason, update, truth, intent)
    if (excuse === null) {
      return { verdict, truth, failure: { ...base, kind: 'refused an honest edit', expected: 'accepted', actual: `refused: ${verdict.reason}` } }
    }
    return { verdict, truth, failure: null, excuse }
  }
  return { verdict, truth, failure: null }
}

/**
 * Whether `update` appends to the list `root` after an element other than the server's last one:
 * an honest append from a replica that had not seen another writer's appends (an offline proctor
 * while the student wrote). Append-only rules insert after the server's last element only.
 */
function appendedBehind(m: Moment, update: Uint8Array, root: string): boolean {
  const list = m.server.getArray(root)
  let last: Y.Item | null = null
  for (let item = list._start; item !== null; item = item.right) last = item
  for (const struct of Y.decodeUpdate(update).structs) {
    if (!(struct instanceof Y.Item) || struct.origin === null) continue
    const { client, clock } = struct.origin
    if (clock >= Y.getState(m.server.store, client)) continue // after an element of this update
    const origin = Y.getItem(m.server.store, struct.origin)
    if (origin.parent !== list) continue
    if (last === null || origin !== last || clock !== last.id.clock + last.length - 1) return true
  }
  return false
}

/**
 * Why refusing this honest edit is right, or null when it is not: a declared limit it really
 * exceeds, a freeze a rule declares for a path it changes, or a change the rules forbid on the
 * server's (newer) state than the replica's.
 */
function honestExcuse(m: Moment, ctx: WriteContext, reason: string, update: Uint8Array, truth: Truth, intent: Intent): string | null {
  if (reason.startsWith('too-large:')) return exceedsLimits(m.server, update)
  if (reason.endsWith(' (append only)')) return appendedBehind(m, update, reason.slice('forbidden-write: '.length, -' (append only)'.length)) ? 'stale: another writer appended meanwhile' : null
  const found = breaches(m.surface, ctx, truth.changes)
  const intended = intent.map(([path, op]) => openRules(m.surface, path, op, ctx))
  if (reason.startsWith('frozen:')) return found.some((b) => b.frozen === reason) || intended.some((r) => r.frozen === reason) ? 'frozen' : null
  // The replica was behind: on the server's state the edit breaks a rule.
  if (found.length > 0) return `stale: ${found[0].kind}`
  return intended.some((r) => r.open.length === 0) ? 'stale: a path no longer writable' : null
}

/** The paths and operations an honest edit meant to write (what its may() checks allowed). */
export type Intent = Array<readonly [Path, Op]>

/** Which declared limit the update exceeds, measured independently of the guard, or null. */
export function exceedsLimits(server: Y.Doc, update: Uint8Array): string | null {
  let parsed: Blocks
  try {
    parsed = decodeBlocks(update)
  } catch {
    return null
  }
  // Yjs keeps only the last block of a client; what it never reads is no load.
  const last = new Map<number, Block>()
  for (const block of parsed.blocks) last.set(block.client, block)
  let fresh = 0
  for (const block of last.values()) {
    const state = Y.getState(server.store, block.client)
    let clock = block.clock
    for (const s of block.structs) {
      const length = structLength(s)
      if (isItem(s) && clock + length > state) {
        fresh++
        const values = 'any' in s.content ? s.content.any.slice(Math.max(0, state - clock)) : []
        for (const v of values) {
          if (anyBytes(v).length > LIMITS.valueBytes) return 'value bytes'
          if (depthOf(v) > LIMITS.valueDepth) return 'value depth'
        }
      }
      clock += length
    }
  }
  return fresh > LIMITS.updateStructs ? 'structs per update' : null
}

function depthOf(value: unknown): number {
  if (value === null || typeof value !== 'object' || value instanceof Uint8Array) return 0
  const children = Array.isArray(value) ? value : Object.values(value)
  return 1 + children.reduce<number>((max, v) => Math.max(max, depthOf(v)), 0)
}

export class World {
  readonly scenario: Scenario
  readonly surface: Surface
  readonly ref: DocRef
  readonly rng: Rng
  readonly stats: Stats
  server: Y.Doc
  readonly owners = new Map<number, string>()
  readonly related = new Map<string, Y.Doc>()
  readonly freezes = new Map<string, string>()
  readonly facts: Facts
  readonly users: UserState[]
  readonly legacyIds: number[] = []
  readonly serverIds: number[] = []
  /** Accepted updates, for replays by someone else. */
  readonly history: Array<{ sender: string; update: Uint8Array }> = []
  readonly failures: Failure[] = []
  step = 0
  private counter = 0
  private readonly used = new Set<number>([0])
  private moment: Moment | null = null
  readonly meta: { seed: string; caseIndex: number }

  constructor(scenario: Scenario, seed: string, caseIndex: number, stats: Stats) {
    this.scenario = scenario
    const { ref, surface } = resolve(scenario.name)
    this.ref = ref
    this.surface = surface
    this.meta = { seed, caseIndex }
    this.rng = new Rng(`${seed}/${scenario.name}/${caseIndex}`)
    this.stats = stats
    this.facts = { frozen: (name) => this.freezes.get(name) ?? null, related: (name) => this.related.get(name) }
    for (const [name, build] of Object.entries(scenario.related ?? {})) {
      const doc = this.doc()
      doc.transact(() => build(doc))
      this.related.set(name, doc)
    }
    this.server = this.doc()
    this.owners.set(this.server.clientID, SERVER_OWNER)
    this.serverIds.push(this.server.clientID)
    if (scenario.legacy) {
      const legacy = this.doc()
      this.legacyIds.push(legacy.clientID)
      legacy.transact(() => scenario.legacy!(legacy))
      Y.applyUpdate(this.server, Y.encodeStateAsUpdate(legacy))
    }
    if (scenario.setup) this.server.transact(() => scenario.setup!(this.server, this.rng))
    this.users = scenario.users.map((who) => ({ who, replica: this.replicaFromServer(), hostileId: this.newId(), offline: false, unsent: false, intent: [] }))
  }

  newId(): number {
    for (;;) {
      const id = 1 + this.rng.int(0x7ffffffe)
      if (!this.used.has(id)) {
        this.used.add(id)
        return id
      }
    }
  }

  n(): number {
    return ++this.counter
  }

  /** A Y.Doc with a client id from this case's randomness. */
  doc(): Y.Doc {
    const doc = new Y.Doc()
    doc.clientID = this.newId()
    return doc
  }

  replicaFromServer(): Y.Doc {
    const replica = this.doc()
    Y.applyUpdate(replica, Y.encodeStateAsUpdate(this.server))
    return replica
  }

  /** The server's state now (cached until the server's document changes). */
  now(): Moment {
    if (!this.moment) {
      const users = this.users
      this.moment = {
        surface: this.surface,
        ref: this.ref,
        server: this.server,
        state: Y.encodeStateAsUpdate(this.server),
        before: snapshot(this.server),
        owners: this.owners,
        presence: (client) => users?.find((u) => !u.offline && u.replica.clientID === client)?.who.sub,
        facts: this.facts,
      }
    }
    return this.moment
  }

  changed(): void {
    this.moment = null
  }

  sync(user: UserState): void {
    Y.applyUpdate(user.replica, Y.encodeStateAsUpdate(this.server, Y.encodeStateVector(user.replica)))
    user.unsent = false
    user.intent = []
  }

  /** A page reload: a fresh replica, with a new client id, synced from the server. */
  reload(user: UserState): void {
    user.replica = this.replicaFromServer()
    user.offline = false
    user.unsent = false
    user.intent = []
  }

  restart(): void {
    const fresh = this.doc()
    Y.applyUpdate(fresh, Y.encodeStateAsUpdate(this.server))
    this.server = fresh
    this.owners.set(fresh.clientID, SERVER_OWNER)
    this.serverIds.push(fresh.clientID)
    this.stats.restarts++
    this.changed()
  }

  serverWrite(): boolean {
    const write = this.scenario.serverWrite
    if (!write) return false
    this.server.transact(() => write(this.server, this.rng, this.n()))
    this.stats.serverWrites++
    this.changed()
    return true
  }

  /** Sends one update to the guard; applies it when accepted. Returns whether it was accepted. */
  submit(user: UserState, update: Uint8Array, kind: Kind, label: string): boolean {
    const m = this.now()
    const intent = [...user.intent]
    const result = judgeUpdate(m, user.who, update, kind, intent)
    this.stats.updates++
    if (kind === 'honest') bump(this.stats.honestKinds, label.replace(/^honest ?/, '').replace(/ \(.*\)$/, '') || 'edit')
    for (const feature of featuresOf(m, user.who.sub, update)) bump(this.stats.features, `${kind} ${feature}`)
    const reason = result.verdict.reason
    if (kind === 'hostile') {
      const g = this.stats.generators.get(label) ?? { sent: 0, refused: 0 }
      g.sent++
      if (reason !== null) g.refused++
      this.stats.generators.set(label, g)
    }
    if (result.failure) {
      const failure: Failure = {
        ...result.failure, seed: this.meta.seed, scenario: this.scenario.name, caseIndex: this.meta.caseIndex, step: this.step, label,
        serverState: m.state, serverClient: m.server.clientID, owners: [...m.owners],
      }
      failure.minimal = minimise(m, user.who, update, kind, failure.kind, intent)
      this.failures.push(failure)
    }
    if (reason === null) {
      if (kind === 'honest') this.stats.honestAccepted++
      else this.stats.hostileAccepted++
      // What the server does with an accepted update: record the claims, apply it.
      for (const client of result.verdict.claims) this.owners.set(client, user.who.sub)
      try {
        Y.applyUpdate(this.server, update)
      } catch {
        // Reported above (the truth threw); the server's copy is now whatever Yjs left.
      }
      if (this.server.store.pendingStructs || this.server.store.pendingDs) {
        // Reported above; start over from what storage would give back, without the pending part.
        const clean = this.doc()
        clean.clientID = this.server.clientID
        Y.applyUpdate(clean, encodeWithoutPending(this.server))
        this.server = clean
      }
      this.history.push({ sender: user.who.sub, update })
      this.changed()
      return true
    }
    if (kind === 'honest') {
      bump(this.stats.honestRefused, reasonPrefix(reason))
      if (process.env.GUARD_VERBOSE) console.log(`honest refused (${label}, ${user.who.sub}, case ${this.meta.caseIndex} step ${this.step}): ${reason}; excused as ${result.excuse}; intent ${JSON.stringify(intent)}; ${describeUpdate(update)}`)
    }
    else {
      bump(this.stats.hostileRefused, reasonPrefix(reason))
      if (result.truth.threw || result.truth.pending || result.truth.divergence || result.truth.outOfOrder.length > 0 || breaches(m.surface, writeContext(user.who, m.ref, m.server, m.facts, SERVER_TIME), result.truth.changes).length > 0) {
        this.stats.hostileHarmful++
      }
    }
    return false
  }

  /** How a client decides: userCanWrite on a copy of its replica, without server facts. */
  honest(user: UserState): Honest {
    const view = new Y.Doc()
    Y.applyUpdate(view, Y.encodeStateAsUpdate(user.replica))
    const name = this.scenario.name
    const who = user.who
    const surface = this.surface
    const ctx = writeContext(who, this.ref, view)
    const intent: Intent = user.intent
    return {
      doc: user.replica,
      user: who,
      rng: this.rng,
      n: () => this.n(),
      may: (path, op = 'insert') => {
        const allowed = userCanWrite(name, path, who, view, op)
        if (allowed) intent.push([path, op])
        return allowed
      },
      mayDelete: (path, value) => {
        if (!userCanWrite(name, path, who, view, 'delete')) return false
        const open = grantingRules(surface, path, 'delete', ctx).filter((rule) => !rule.frozen?.(ctx))
        const allowed = !open.every((rule) => rule.owner) || open.some((rule) => rule.owner!(value) === who.sub)
        if (allowed) intent.push([path, 'delete'])
        return allowed
      },
      related: (n) => this.related.get(n),
      others: this.users.map((u) => u.who.sub).filter((s) => s !== who.sub),
      intent,
    }
  }
}

/** The kinds of structs an update carries, relative to the server's state (for the summary). */
function featuresOf(m: Moment, sub: string, update: Uint8Array): Set<string> {
  const found = new Set<string>()
  let parsed: Blocks
  try {
    parsed = decodeBlocks(update)
  } catch {
    found.add('unreadable')
    return found
  }
  const seen = new Set<number>()
  for (const block of parsed.blocks) {
    if (seen.has(block.client)) found.add('repeated client block')
    seen.add(block.client)
    const state = m.before.sv.get(block.client) ?? 0
    if (block.clock > state) found.add('gap')
    let clock = block.clock
    for (const s of block.structs) {
      const end = clock + structLength(s)
      if (end > state) {
        if ('gc' in s) found.add('GC')
        if ('skip' in s) found.add('Skip')
        if (clock < state) found.add('partly known struct')
        const owner = block.client === m.server.clientID ? SERVER_OWNER : m.owners.get(block.client)
        if (owner !== undefined && owner !== sub) found.add(owner === SERVER_OWNER ? "server's id" : "another user's id")
      }
      clock = end
    }
  }
  if (parsed.deletes.length > 0) found.add('deletes')
  return found
}

function encodeWithoutPending(doc: Y.Doc): Uint8Array {
  const copy = new Y.Doc()
  const structs = doc.store.pendingStructs
  const ds = doc.store.pendingDs
  doc.store.pendingStructs = null
  doc.store.pendingDs = null
  Y.applyUpdate(copy, Y.encodeStateAsUpdate(doc))
  doc.store.pendingStructs = structs
  doc.store.pendingDs = ds
  return Y.encodeStateAsUpdate(copy)
}

/** A smaller update (fewer blocks, structs, deletes and values) that still fails the same way. */
function minimise(m: Moment, sender: Identity, update: Uint8Array, kind: Kind, failureKind: string, intent: Intent): Uint8Array | undefined {
  let blocks: Blocks
  try {
    blocks = decodeBlocks(update)
  } catch {
    return undefined
  }
  const still = (candidate: Blocks): Uint8Array | null => {
    const bytes = encodeBlocks(candidate)
    try {
      const again = judgeUpdate(m, sender, bytes, kind, intent)
      return again.failure?.kind === failureKind ? bytes : null
    } catch {
      return null
    }
  }
  if (!still(blocks)) return undefined
  let best = blocks
  let progress = true
  let rounds = 0
  while (progress && rounds++ < 20) {
    progress = false
    const candidates: Blocks[] = []
    for (let i = 0; i < best.blocks.length; i++) candidates.push({ blocks: best.blocks.filter((_, j) => j !== i), deletes: best.deletes })
    for (let i = 0; i < best.deletes.length; i++) candidates.push({ blocks: best.blocks, deletes: best.deletes.filter((_, j) => j !== i) })
    best.blocks.forEach((block, i) => {
      if (block.structs.length > 1) {
        candidates.push({ blocks: best.blocks.map((b, j) => (j === i ? { ...b, structs: b.structs.slice(0, -1) } : b)), deletes: best.deletes })
        const first = structLength(block.structs[0])
        candidates.push({ blocks: best.blocks.map((b, j) => (j === i ? { ...b, clock: b.clock + first, structs: b.structs.slice(1) } : b)), deletes: best.deletes })
      }
      block.structs.forEach((s, k) => {
        if (isItem(s) && 'any' in s.content && s.content.any.length > 1 && k === block.structs.length - 1) {
          const content = s.content
          candidates.push({ blocks: best.blocks.map((b, j) => (j === i ? { ...b, structs: b.structs.map((t, l) => (l === k ? { ...s, content: { any: content.any.slice(0, -1) } } : t)) } : b)), deletes: best.deletes })
        }
      })
    })
    for (const candidate of candidates) {
      if (still(candidate)) {
        best = candidate
        progress = true
        break
      }
    }
  }
  const bytes = encodeBlocks(best)
  return bytes.length < update.length ? bytes : undefined
}

// ---------------------------------------------------------------------------------------------
// Steps of a case

/** Runs `count` random edits of `h`'s user in one transaction; how many applied. */
function honestEdits(world: World, h: Honest, count: number): number {
  let done = 0
  const actions = world.scenario.honest
  if (actions.length === 0) return 0
  h.doc.transact(() => {
    for (let tries = 0; done < count && tries < count * 6 + 10; tries++) if (world.rng.pick(actions)(h)) done++
  })
  return done
}

/** Captures the updates a replica emits while `edit` runs. */
function capture(doc: Y.Doc, edit: () => boolean): Uint8Array | null {
  const updates: Uint8Array[] = []
  const listener = (update: Uint8Array) => updates.push(update)
  doc.on('update', listener)
  let applied: boolean
  try {
    applied = edit()
  } finally {
    doc.off('update', listener)
  }
  if (!applied || updates.length === 0) return null
  return updates.length === 1 ? updates[0] : Y.mergeUpdates(updates)
}

function afterHonest(world: World, user: UserState, accepted: boolean): void {
  if (accepted) world.sync(user)
  else world.reload(user) // a refused client reconnects with a fresh document
}

/** Users that are connected (their edits reach the server now). */
function editors(world: World): UserState[] {
  return world.users.filter((u) => !u.offline)
}

export function stepHonest(world: World): void {
  const user = world.rng.pick(world.users)
  if (user.offline) {
    // Offline: edit locally; sent later as a sync step 2 of the whole replica.
    const h = world.honest(user)
    if (honestEdits(world, h, world.rng.range(1, 2)) > 0) user.unsent = true
    return
  }
  world.sync(user)
  const h = world.honest(user)
  const bulk = world.rng.chance(0.04)
  const serverSv = Y.encodeStateVector(world.server)
  const incremental = capture(user.replica, () => honestEdits(world, h, bulk ? world.rng.range(120, 260) : world.rng.range(1, 3)) > 0)
  if (!incremental) return
  const update = world.rng.chance(0.5) ? incremental : Y.encodeStateAsUpdate(user.replica, serverSv)
  afterHonest(world, user, world.submit(user, update, 'honest', bulk ? 'honest bulk' : 'honest'))
}

/** Two users edit from the same state; the second one's update reaches the server after the first. */
export function stepConcurrent(world: World): void {
  const online = editors(world)
  if (online.length < 2) return
  const a = world.rng.pick(online)
  const b = world.rng.pick(online.filter((u) => u !== a))
  world.sync(a)
  world.sync(b)
  if (world.scenario.sharedText && world.rng.chance(0.6) && concurrentText(world, a, b)) return
  const ua = capture(a.replica, () => honestEdits(world, world.honest(a), world.rng.range(1, 2)) > 0)
  const ub = capture(b.replica, () => honestEdits(world, world.honest(b), world.rng.range(1, 2)) > 0)
  if (ua) afterHonest(world, a, world.submit(a, ua, 'honest', 'honest concurrent'))
  if (ub) afterHonest(world, b, world.submit(b, ub, 'honest', 'honest concurrent (stale)'))
}

/** A text both may write: each writes some, then each deletes the other's text on a stale replica. */
function concurrentText(world: World, a: UserState, b: UserState): boolean {
  const ha = world.honest(a)
  const hb = world.honest(b)
  if (!ha.may(['body']) || !hb.may(['body']) || !ha.may(['body'], 'delete') || !hb.may(['body'], 'delete')) return false
  const rng = world.rng
  const firstText = (doc: Y.Doc): Y.XmlText | null => {
    for (const node of doc.getXmlFragment('body').toArray()) {
      if (node instanceof Y.XmlElement) for (const child of node.toArray()) if (child instanceof Y.XmlText) return child
    }
    return null
  }
  // Both write a word into the same text (made first if there is none).
  for (const [user, word] of [[a, 'alpha'], [b, 'beta']] as const) {
    world.sync(user)
    const update = capture(user.replica, () => {
      user.replica.transact(() => {
        let text = firstText(user.replica)
        if (!text) {
          const paragraph = new Y.XmlElement('paragraph')
          text = new Y.XmlText()
          paragraph.insert(0, [text])
          user.replica.getXmlFragment('body').insert(0, [paragraph])
        }
        text.insert(rng.int(text.length + 1), ` ${word}${world.n()}`)
      })
      return true
    })
    if (update) afterHonest(world, user, world.submit(user, update, 'honest', 'honest concurrent text'))
  }
  world.sync(a)
  world.sync(b)
  // Now concurrently: each deletes the other's characters and types its own.
  const rangesOf = (text: Y.XmlText, client: number): Array<[number, number]> => {
    const ranges: Array<[number, number]> = []
    let index = 0
    for (let item = text._start; item !== null; item = item.right) {
      if (item.deleted || !item.countable) continue
      if (item.id.client === client) ranges.push([index, item.length])
      index += item.length
    }
    return ranges
  }
  const edits: Array<[UserState, Uint8Array]> = []
  for (const [user, other] of [[a, b], [b, a]] as const) {
    const update = capture(user.replica, () => {
      const text = firstText(user.replica)
      if (!text) return false
      user.replica.transact(() => {
        const ranges = rangesOf(text, other.replica.clientID)
        const target = ranges.length > 0 ? rng.pick(ranges) : null
        if (target) text.delete(target[0], rng.range(1, target[1]))
        text.insert(rng.int(text.length + 1), user === a ? 'A' : 'B')
      })
      return true
    })
    if (update) edits.push([user, update])
  }
  edits.forEach(([user, update], i) => {
    const full = i === 1 && rng.chance(0.3) ? Y.encodeStateAsUpdate(user.replica) : update
    afterHonest(world, user, world.submit(user, full, 'honest', i === 0 ? 'honest concurrent delete' : 'honest concurrent delete (stale)'))
  })
  return true
}

/** An insert that grows: the second part is sent from the state vector before the first, so the server has the struct's start. */
export function stepGrow(world: World): void {
  const grow = world.scenario.grow
  if (!grow) return
  const user = world.rng.pick(editors(world).length > 0 ? editors(world) : world.users)
  if (user.offline) return
  world.sync(user)
  const before = Y.encodeStateVector(user.replica)
  const memo: Record<string, unknown> = {}
  const first = capture(user.replica, () => grow(world.honest(user), 0, memo))
  if (!first) return
  if (!world.submit(user, first, 'honest', 'honest grow (first part)')) {
    world.reload(user)
    return
  }
  const second = capture(user.replica, () => grow(world.honest(user), 1, memo))
  if (!second) {
    world.sync(user)
    return
  }
  afterHonest(world, user, world.submit(user, Y.encodeStateAsUpdate(user.replica, before), 'honest', 'honest grow (resent from an older state vector)'))
}

/** A user goes offline, or comes back and sends the whole replica (sync step 2). */
export function stepOffline(world: World): void {
  const offline = world.users.filter((u) => u.offline)
  if (offline.length > 0 && world.rng.chance(0.6)) {
    const user = world.rng.pick(offline)
    user.offline = false
    if (!user.unsent) {
      world.sync(user)
      return
    }
    afterHonest(world, user, world.submit(user, Y.encodeStateAsUpdate(user.replica), 'honest', 'honest offline edits (whole replica)'))
    return
  }
  const online = world.users.filter((u) => !u.offline)
  if (online.length === 0) return
  const user = world.rng.pick(online)
  world.sync(user)
  user.offline = true
}

export function stepReload(world: World): void {
  world.reload(world.rng.pick(world.users))
}

export function stepRelated(world: World): void {
  world.scenario.relatedWrite?.(world, world.rng)
  world.changed()
}

// ---------------------------------------------------------------------------------------------
// Hostile updates

/** A client id for a hostile update: the sender's own, someone else's, the server's, a legacy one or a fresh one. */
function hostileClient(world: World, sender: UserState): { client: number; whose: string } {
  const rng = world.rng
  const others = world.users.filter((u) => u !== sender)
  // Ids a client can know: ones with changes on the server, and ones seen in someone's presence.
  // (An offline replica's id that never wrote is no one's yet; taking it is not this test's concern.)
  const visible = others.filter((u) => !u.offline || world.owners.get(u.replica.clientID) === u.who.sub)
  // Never the sender's own replica id: structs there the replica did not make would clash with its next edit.
  const known = [...world.now().before.sv.keys()].filter((c) => c !== sender.replica.clientID)
  return rng.weighted<() => { client: number; whose: string }>([
    [50, () => ({ client: sender.hostileId, whose: 'own' })],
    [6, () => (visible.length > 0 ? { client: rng.pick(visible).replica.clientID, whose: "another user's" } : { client: sender.hostileId, whose: 'own' })],
    [6, () => (others.length > 0 ? { client: rng.pick(others).hostileId, whose: "another user's" } : { client: sender.hostileId, whose: 'own' })],
    [6, () => ({ client: world.server.clientID, whose: "the server's" })],
    [4, () => ({ client: rng.pick(world.serverIds), whose: "the server's (earlier)" })],
    [4, () => (world.legacyIds.length > 0 ? { client: rng.pick(world.legacyIds), whose: 'legacy' } : { client: world.server.clientID, whose: "the server's" })],
    [6, () => (known.length > 0 ? { client: rng.pick(known), whose: 'any known' } : { client: sender.hostileId, whose: 'own' })],
    [12, () => ({ client: world.newId(), whose: 'fresh' })],
  ])()
}

/** An id of something the server has (any struct, any clock in it), or of nothing. */
function randomId(world: World, opts: { missing?: boolean } = {}): Id {
  const rng = world.rng
  const store = world.server.store
  const clients = [...store.clients.keys()]
  if (opts.missing || clients.length === 0) {
    const client = clients.length > 0 && rng.chance(0.6) ? rng.pick(clients) : world.newId()
    return [client, Y.getState(store, client) + rng.int(3)]
  }
  const client = rng.pick(clients)
  const structs = store.clients.get(client)!
  const s = rng.pick(structs)
  return [client, s.id.clock + rng.int(s.length)]
}

/** Items of the server (for origins, right origins and parents), by what they are. */
function serverItems(world: World): { all: Y.Item[]; types: Y.Item[]; values: Y.Item[] } {
  const all: Y.Item[] = []
  for (const structs of world.server.store.clients.values()) for (const s of structs) if (s instanceof Y.Item) all.push(s)
  return { all, types: all.filter((i) => i.content instanceof Y.ContentType), values: all.filter((i) => !(i.content instanceof Y.ContentType)) }
}

/** Paths from the rules, instantiated for the sender or someone else, plus keys the server has and junk. */
function candidateKeys(world: World, sender: UserState, root: string): string[] {
  const rng = world.rng
  const subs = world.users.map((u) => u.who.sub)
  const keys = new Set<string>()
  for (const rule of world.surface.writes) {
    const [r, seg] = rule.path.split('/')
    if (r !== root || seg === undefined) continue
    const who = rng.chance(0.6) ? sender.who.sub : rng.pick(subs)
    if (seg === '$self') keys.add(who)
    else if (seg === '$self:*') keys.add(`${who}:k${rng.int(4)}`)
    else if (seg === '*') keys.add(`k${rng.int(4)}`)
    else if (seg.startsWith('$')) keys.add(world.ref.params[seg.slice(1)] ?? 'x')
    else keys.add(seg)
  }
  const map = world.server.share.get(root)
  if (map) for (const key of map._map.keys()) keys.add(key)
  keys.add(rng.pick([sender.who.sub, `${sender.who.sub}:x`, 'junk', '0', 'now', 'state', 'owner', 'choice', 'locked', 'title', ...subs]))
  return [...keys]
}

function pickRoot(world: World): string {
  const roots = Object.keys(world.surface.layout)
  return world.rng.chance(0.08) ? world.rng.pick(['junk', 'Body', '']) : world.rng.pick(roots)
}

/** A value for root/key: a plausible one (maybe someone else's), or one broken on purpose. */
function hostileValue(world: World, sender: UserState, root: string, key: string | null): unknown {
  const rng = world.rng
  const subs = world.users.map((u) => u.who.sub)
  const base = world.scenario.sample(root, key, rng, rng.chance(0.7) ? sender.who.sub : rng.pick(subs))
  return rng.weighted<() => unknown>([
    [50, () => base],
    [10, () => (base !== null && typeof base === 'object' && !Array.isArray(base) ? { ...base, extra: rng.pick([1, 'x', { nested: true }]) } : [base])],
    [8, () => deep(rng.range(12, 24), base)],
    [8, () => rng.pick([null, true, 0, -1, 1.5, 'x', '', [], {}, new Uint8Array([1, 2]), 'x'.repeat(rng.pick([300, 5000]))])],
    [6, () => world.scenario.sample(rng.pick(Object.keys(world.surface.layout)), key, rng, sender.who.sub)],
    [4, () => ({ big: 'y'.repeat(20_000) })],
    [4, () => (base !== null && typeof base === 'object' && !Array.isArray(base) ? { ...base, author: rng.pick(subs), by: rng.pick(subs), owner: rng.pick(subs) } : base)],
  ])()
}

function deep(depth: number, leaf: unknown): unknown {
  let value: unknown = leaf
  for (let i = 0; i < depth; i++) value = [value]
  return value
}

/** Random edits through the Yjs API, anywhere, on a copy of the server's document under a hostile client id. */
function hostileApi(world: World, sender: UserState): Uint8Array | null {
  const rng = world.rng
  const scratch = new Y.Doc()
  Y.applyUpdate(scratch, world.now().state)
  scratch.clientID = hostileClient(world, sender).client
  const before = Y.encodeStateVector(scratch)
  const ops = rng.range(1, 3)
  for (let i = 0; i < ops; i++) {
    const root = pickRoot(world)
    const declared = world.surface.layout[root]?.kind ?? rng.pick(['map', 'array'] as const)
    const kind = rng.chance(0.08) ? rng.pick(['map', 'array', 'text', 'xml'] as const) : declared
    try {
      if (kind === 'map') {
        const map = scratch.getMap(root)
        const keys = [...map.keys()]
        const r = rng.next()
        if (r < 0.2 && keys.length > 0) map.delete(rng.pick(keys))
        else if (r < 0.3) {
          const inner = new Y.Map<unknown>()
          map.set(rng.pick(candidateKeys(world, sender, root)), inner)
          inner.set('x', hostileValue(world, sender, root, 'x'))
        } else {
          const key = rng.pick(candidateKeys(world, sender, root))
          map.set(key, hostileValue(world, sender, root, key))
        }
      } else if (kind === 'array') {
        const array = scratch.getArray(root)
        if (rng.chance(0.3) && array.length > 0) array.delete(rng.int(array.length), 1)
        else array.insert(rng.int(array.length + 1), [hostileValue(world, sender, root, null)])
      } else if (kind === 'text') {
        const text = scratch.getText(root)
        if (rng.chance(0.3) && text.length > 0) text.delete(rng.int(text.length), 1)
        else text.insert(rng.int(text.length + 1), 'abc', rng.chance(0.3) ? { bold: true } : undefined)
      } else {
        const fragment = scratch.getXmlFragment(root)
        if (fragment.length > 0 && rng.chance(0.3)) fragment.delete(rng.int(fragment.length), 1)
        else {
          const paragraph = new Y.XmlElement('paragraph')
          paragraph.insert(0, [new Y.XmlText('hostile')])
          fragment.insert(rng.int(fragment.length + 1), [paragraph])
          if (rng.chance(0.3)) paragraph.setAttribute('x', 'y')
        }
      }
    } catch {
      // The root is typed differently in this copy: skip the operation.
    }
  }
  const update = Y.encodeStateAsUpdate(scratch, before)
  return update.length > 2 ? update : null
}

function hostileContent(world: World, sender: UserState, root: string, key: string | null, minLength = 1): Content {
  const rng = world.rng
  const kind = rng.weighted<string>([[60, 'any'], [10, 'string'], [8, 'deleted'], [9, 'type'], [3, 'format'], [3, 'embed'], [2, 'binary'], [3, 'json'], [2, 'doc']])
  const count = Math.max(minLength, rng.chance(0.7) ? 1 : rng.range(2, 3))
  switch (kind) {
    case 'any': return { any: Array.from({ length: count }, () => hostileValue(world, sender, root, key)) }
    case 'string': return { string: 'x'.repeat(count) }
    case 'deleted': return { deleted: count }
    case 'type': return { type: rng.pick<TypeName>(['map', 'array', 'text', 'xmlText', 'xmlElement', 'xmlFragment', 'xmlHook']) }
    case 'format': return { format: 'bold', value: true }
    case 'embed': return { embed: { image: 'x' } }
    case 'binary': return { binary: new Uint8Array([1, 2, 3]) }
    case 'json': return { json: Array.from({ length: count }, () => ({ text: 'legacy' })) }
    default: return { doc: 'subdoc-guid' }
  }
}

/** Where a hand-made item goes: a root (and key), a type or a value of the server, an origin or a right origin anywhere. */
function hostilePlacement(world: World, sender: UserState, earlier: Id[]): { placement: Omit<ItemStruct, 'content'>; root: string; key: string | null } {
  const rng = world.rng
  const root = pickRoot(world)
  const items = serverItems(world)
  return rng.weighted<() => { placement: Omit<ItemStruct, 'content'>; root: string; key: string | null }>([
    [30, () => {
      const kind = world.surface.layout[root]?.kind
      const key = (kind === 'map') !== rng.chance(0.1) ? rng.pick(candidateKeys(world, sender, root)) : null
      return { placement: key === null ? { parent: root } : { parent: root, parentSub: key }, root, key }
    }],
    [20, () => {
      const item = items.all.length > 0 ? rng.pick(items.all) : null
      if (!item) return { placement: { parent: root }, root, key: null }
      return { placement: { origin: [item.id.client, item.id.clock + rng.int(item.length)] }, root: pathRoot(item), key: item.parentSub }
    }],
    [10, () => {
      const item = items.all.length > 0 ? rng.pick(items.all) : null
      if (!item) return { placement: { parent: root }, root, key: null }
      return { placement: { rightOrigin: [item.id.client, item.id.clock] }, root: pathRoot(item), key: item.parentSub }
    }],
    [8, () => ({ placement: { origin: randomId(world), rightOrigin: randomId(world) }, root, key: null })],
    [10, () => {
      const pool = rng.chance(0.7) && items.types.length > 0 ? items.types : items.values
      const item = pool.length > 0 ? rng.pick(pool) : null
      const id: Id = item ? [item.id.client, item.id.clock] : randomId(world)
      return { placement: rng.chance(0.5) ? { parent: id, parentSub: rng.pick(['x', sender.who.sub, 'title']) } : { parent: id }, root, key: null }
    }],
    [8, () => (earlier.length > 0 ? { placement: { origin: rng.pick(earlier) }, root, key: null } : { placement: { parent: root }, root, key: null })],
    [6, () => ({ placement: rng.chance(0.5) ? { origin: randomId(world, { missing: true }) } : { parent: randomId(world, { missing: true }) }, root, key: null })],
    [4, () => ({ placement: { origin: [sender.hostileId, Y.getState(world.server.store, sender.hostileId) + rng.int(3)] }, root, key: null })],
  ])()
}

function pathRoot(item: Y.Item): string {
  let type = item.parent as Y.AbstractType<any> | null
  while (type && type._item) type = type._item.parent as Y.AbstractType<any>
  try {
    return type ? Y.findRootTypeKey(type) : 'junk'
  } catch {
    return 'junk'
  }
}

/** Hand-made blocks: items anywhere, GC and Skip structs, offsets, overlaps, gaps, deletes. */
function hostileCraft(world: World, sender: UserState): Uint8Array {
  const rng = world.rng
  const blocks: Block[] = []
  const earlier: Id[] = []
  const count = rng.weighted<number>([[70, 1], [22, 2], [8, 3]])
  for (let b = 0; b < count; b++) {
    const { client } = hostileClient(world, sender)
    const state = Y.getState(world.server.store, client)
    const start = rng.weighted<() => { clock: number; minLength: number }>([
      [55, () => ({ clock: state, minLength: 1 })],
      [15, () => {
        const k = state > 0 ? rng.range(1, Math.min(state, 3)) : 0
        return { clock: state - k, minLength: k + rng.range(1, 2) }
      }],
      [10, () => {
        const clock = state > 0 ? rng.int(state) : 0
        return { clock, minLength: state - clock + 1 }
      }],
      [10, () => ({ clock: state + rng.range(1, 4), minLength: 1 })],
      [10, () => ({ clock: 0, minLength: state + 1 })],
    ])()
    if (start.minLength > 40) start.minLength = 40
    const structs: Struct[] = []
    let clock = start.clock
    const n = rng.weighted<number>([[70, 1], [22, 2], [8, 3]])
    for (let i = 0; i < n; i++) {
      const minLength = i === 0 ? start.minLength : 1
      const kind = rng.weighted<string>([[80, 'item'], [12, 'gc'], [8, 'skip']])
      let s: Struct
      if (kind === 'gc') s = { gc: Math.max(minLength, rng.pick([1, 2, 10, 1000])) }
      else if (kind === 'skip') s = { skip: Math.max(minLength, rng.pick([1, 2, 10])) }
      else {
        const { placement, root, key } = hostilePlacement(world, sender, earlier)
        s = { ...placement, content: hostileContent(world, sender, root, key, minLength) }
      }
      for (let c = 0; c < structLength(s); c++) earlier.push([client, clock + c])
      clock += structLength(s)
      structs.push(s)
    }
    blocks.push({ client, clock: start.clock, structs })
    // Yjs keeps only the last block of a client: sometimes another one follows.
    if (rng.chance(0.05)) blocks.push({ client, clock: state, structs: [{ parent: pickRoot(world), content: { any: [1] } }] })
  }
  const deletes: Range[] = []
  if (rng.chance(0.3)) for (let i = rng.range(1, 3); i > 0; i--) deletes.push(hostileDelete(world, blocks))
  return encodeBlocks({ blocks, deletes })
}

function hostileDelete(world: World, blocks: Block[]): Range {
  const rng = world.rng
  return rng.weighted<() => Range>([
    [60, () => {
      const [client, clock] = randomId(world)
      return { client, clock, len: rng.pick([1, 1, 2, 5]) }
    }],
    [15, () => {
      const [client, clock] = randomId(world, { missing: true })
      return { client, clock, len: rng.range(1, 3) }
    }],
    [25, () => {
      const block = blocks.length > 0 ? rng.pick(blocks) : null
      if (!block) return { client: 1, clock: 0, len: 1 }
      return { client: block.client, clock: block.clock + rng.int(Math.max(1, blockEnd(block) - block.clock)), len: rng.range(1, 2) }
    }],
  ])()
}

/** A map overwrite placed by an older value of the key (or left of the current one), maybe deleting the current value. */
function hostileChain(world: World, sender: UserState): Uint8Array | null {
  const rng = world.rng
  const slots = new Map<string, Y.Item[]>()
  for (const item of serverItems(world).all) {
    if (item.parentSub === null) continue
    const parent = item.parent as Y.AbstractType<any>
    const id = parent._item ? `${parent._item.id.client}:${parent._item.id.clock}` : pathRoot(item)
    const slot = `${id}\u0000${item.parentSub}`
    slots.set(slot, [...(slots.get(slot) ?? []), item])
  }
  if (slots.size === 0) return null
  const chain = rng.pick([...slots.values()])
  const anchor = rng.pick(chain)
  const current = chain.find((i) => !i.deleted && i.right === null)
  const root = pathRoot(anchor)
  const client = rng.chance(0.8) ? sender.hostileId : hostileClient(world, sender).client
  const value = hostileValue(world, sender, root, anchor.parentSub)
  const content: Content = rng.chance(0.25) ? { deleted: 1 } : { any: [value] }
  const placement: Omit<ItemStruct, 'content'> = rng.weighted<Omit<ItemStruct, 'content'>>([
    [50, { origin: [anchor.id.client, anchor.id.clock + anchor.length - 1] }],
    [25, { rightOrigin: [anchor.id.client, anchor.id.clock] }],
    [25, { origin: [anchor.id.client, anchor.id.clock + anchor.length - 1], rightOrigin: current ? [current.id.client, current.id.clock] : [anchor.id.client, anchor.id.clock] }],
  ])
  const deletes: Range[] = current && rng.chance(0.7) ? [{ client: current.id.client, clock: current.id.clock, len: current.length }] : []
  return encodeBlocks({ blocks: [{ client, clock: Y.getState(world.server.store, client), structs: [{ ...placement, content }] }], deletes })
}

/** An honest edit (of the sender or of someone else), made under a hostile client id, then changed in one or two places. */
function hostileMutation(world: World, sender: UserState): Uint8Array | null {
  const rng = world.rng
  const as = rng.chance(0.6) ? sender : rng.pick(world.users)
  const scratch = new Y.Doc()
  Y.applyUpdate(scratch, world.now().state)
  // Set after loading: Yjs gives a document a new random id when a remote update writes under its own.
  scratch.clientID = hostileClient(world, sender).client
  const fake: UserState = { who: as.who, replica: scratch, hostileId: scratch.clientID, offline: false, unsent: false, intent: [] }
  const before = Y.encodeStateVector(scratch)
  const h = world.honest(fake)
  if (honestEdits(world, h, rng.range(1, 2)) === 0) return null
  const parsed = decodeBlocks(Y.encodeStateAsUpdate(scratch, before))
  const items = () => parsed.blocks.flatMap((b) => b.structs.filter(isItem))
  const mutations = rng.range(1, 2)
  for (let i = 0; i < mutations; i++) {
    const list = items()
    const target = list.length > 0 ? rng.pick(list) : null
    rng.weighted<() => void>([
      [12, () => { if (target) { delete target.parent; delete target.parentSub; target.origin = randomId(world) } }],
      [8, () => { if (target) target.rightOrigin = randomId(world) }],
      [8, () => { if (target) { delete target.origin; delete target.rightOrigin; const root = pickRoot(world); target.parent = root; if (world.surface.layout[root]?.kind === 'map') target.parentSub = rng.pick(candidateKeys(world, sender, root)); else delete target.parentSub } }],
      [6, () => { if (target) { delete target.origin; delete target.rightOrigin; const types = serverItems(world).all; const p = types.length > 0 ? rng.pick(types) : null; target.parent = p ? [p.id.client, p.id.clock] : randomId(world); if (rng.chance(0.5)) target.parentSub = 'x'; else delete target.parentSub } }],
      [10, () => {
        // Starts earlier: the server has the first clocks, Yjs integrates the rest next to the client's last item.
        const block = parsed.blocks.length > 0 ? rng.pick(parsed.blocks) : null
        const first = block?.structs[0]
        if (!block || !first || !isItem(first) || block.clock === 0) return
        const k = rng.range(1, Math.min(block.clock, 3))
        const c = first.content
        if ('any' in c) first.content = { any: [...Array.from({ length: k }, () => 0), ...c.any] }
        else if ('string' in c) first.content = { string: 'k'.repeat(k) + c.string }
        else if ('deleted' in c) first.content = { deleted: c.deleted + k }
        else return
        block.clock -= k
      }],
      [12, () => { if (target && 'any' in target.content) target.content = { any: target.content.any.map((v) => rng.chance(0.5) ? hostileValue(world, sender, pickRoot(world), null) : v) } }],
      [8, () => { if (target) target.content = hostileContent(world, sender, pickRoot(world), null, structLength(target)) }],
      [14, () => { for (let d = rng.range(1, 2); d > 0; d--) parsed.deletes.push(hostileDelete(world, parsed.blocks)) }],
      [6, () => { const block = parsed.blocks.length > 0 ? rng.pick(parsed.blocks) : null; if (block) block.structs.push(rng.chance(0.5) ? { gc: rng.pick([1, 50]) } : { skip: rng.pick([1, 3]) }) }],
      [6, () => { const block = parsed.blocks.length > 0 ? rng.pick(parsed.blocks) : null; if (block) { const other = hostileClient(world, sender).client; block.clock = Y.getState(world.server.store, other); block.client = other } }],
      [5, () => { const block = parsed.blocks.length > 0 ? rng.pick(parsed.blocks) : null; if (block) parsed.blocks.push({ ...block, structs: [...block.structs].reverse() }) }],
      [5, () => parsed.blocks.reverse()],
    ])()
  }
  try {
    return encodeBlocks(parsed)
  } catch {
    return null
  }
}

/** Someone else's accepted update, or another user's unsent edits, sent by the sender. */
function hostileReplay(world: World, sender: UserState): Uint8Array | null {
  const rng = world.rng
  const unsent = world.users.filter((u) => u !== sender && u.unsent && world.owners.get(u.replica.clientID) === u.who.sub)
  if (unsent.length > 0 && rng.chance(0.5)) return Y.encodeStateAsUpdate(rng.pick(unsent).replica, Y.encodeStateVector(world.server))
  const others = world.history.filter((h) => h.sender !== sender.who.sub)
  return others.length > 0 ? rng.pick(others).update : null
}

/** A struct under any client id starting before its state (the server has its first clocks), declared where the sender may write. */
function hostileOffset(world: World, sender: UserState): Uint8Array | null {
  const rng = world.rng
  const { client } = rng.chance(0.4) ? { client: sender.hostileId } : hostileClient(world, sender)
  const state = Y.getState(world.server.store, client)
  const allowed = allowedPlacements(world, sender)
  const target = allowed.length > 0 && rng.chance(0.85) ? rng.pick(allowed) : { parent: pickRoot(world) as string, parentSub: undefined as string | undefined }
  const kind = rng.weighted<string>([[45, 'item'], [30, 'gc'], [25, 'skip']])
  if (state === 0 && kind === 'item') return null
  const k = state > 0 ? rng.range(1, Math.min(state, 3)) : 0
  const clock = rng.chance(0.8) ? state - k : state + rng.range(0, 3)
  const length = Math.max(2, state - clock + rng.range(1, 3))
  let struct: Struct
  if (kind === 'gc') struct = { gc: rng.chance(0.3) ? 1000 : length }
  else if (kind === 'skip') struct = { skip: length }
  else {
    const root = target.parent
    const values = Array.from({ length }, () => world.scenario.sample(root, target.parentSub ?? null, rng, sender.who.sub))
    struct = { parent: target.parent, ...(target.parentSub !== undefined ? { parentSub: target.parentSub } : {}), content: rng.chance(0.8) ? { any: values } : { string: 'z'.repeat(length) } }
  }
  const blocks: Block[] = [{ client, clock: Math.max(0, clock), structs: [struct] }]
  if (kind !== 'item' && rng.chance(0.4) && allowed.length > 0) {
    // Something after the squatted clocks, so the GC or Skip is not the whole update.
    const after = rng.pick(allowed)
    blocks.push({ client: sender.hostileId, clock: Y.getState(world.server.store, sender.hostileId), structs: [{ parent: after.parent, ...(after.parentSub !== undefined ? { parentSub: after.parentSub } : {}), content: { any: [world.scenario.sample(after.parent, after.parentSub ?? null, rng, sender.who.sub)] } }] })
  }
  return encodeBlocks({ blocks, deletes: [] })
}

/** Root-level places the sender may insert at (a root, or a root and key). */
function allowedPlacements(world: World, sender: UserState): Array<{ parent: string; parentSub?: string }> {
  const ctx = writeContext(sender.who, world.ref, world.server, world.facts)
  const out: Array<{ parent: string; parentSub?: string }> = []
  for (const [root, decl] of Object.entries(world.surface.layout)) {
    if (decl.kind === 'map') {
      for (const key of candidateKeys(world, sender, root)) if (grantingRules(world.surface, [root, key], 'insert', ctx).length > 0) out.push({ parent: root, parentSub: key })
    } else if (grantingRules(world.surface, [root], 'insert', ctx).length > 0) out.push({ parent: root })
  }
  return out
}

const HOSTILE: Array<[number, string, (world: World, sender: UserState) => Uint8Array | null]> = [
  [24, 'api', hostileApi],
  [26, 'craft', hostileCraft],
  [18, 'mutate', hostileMutation],
  [14, 'chain', hostileChain],
  [12, 'offset', hostileOffset],
  [6, 'replay', hostileReplay],
]

export function stepHostile(world: World): void {
  const sender = world.rng.pick(world.users)
  const [, label, generate] = world.rng.weighted(HOSTILE.map((g) => [g[0], g] as const))
  const update = generate(world, sender)
  if (!update) return
  const accepted = world.submit(sender, update, 'hostile', label)
  // Accepted under the sender's replica id (a replayed own edit): the replica catches up before it edits again.
  if (accepted && !sender.offline) world.sync(sender)
}

// ---------------------------------------------------------------------------------------------
// A case: a fresh world and a random sequence of steps

export const STEPS: Array<[number, string, (world: World) => void]> = [
  [30, 'honest', stepHonest],
  [5, 'concurrent', stepConcurrent],
  [4, 'grow', stepGrow],
  [5, 'offline', stepOffline],
  [2, 'reload', stepReload],
  [6, 'server write', (w) => void w.serverWrite()],
  [3, 'related', stepRelated],
  [3, 'restart', (w) => w.restart()],
  [42, 'hostile', stepHostile],
]

export function runCase(scenario: Scenario, seed: string, caseIndex: number, steps: number, stats: Stats): Failure[] {
  const world = new World(scenario, seed, caseIndex, stats)
  stats.cases++
  for (world.step = 0; world.step < steps; world.step++) {
    const [, , step] = world.rng.weighted(STEPS.map((s) => [s[0], s] as const))
    step(world)
    if (world.failures.length > 0) break
  }
  return world.failures
}

export function describeFailure(f: Failure, replay: string): string {
  return [
    `guard differential failure: ${f.kind}`,
    `  seed ${f.seed}, surface ${f.scenario}, case ${f.caseIndex}, step ${f.step} (${f.label}), sender ${f.sender}`,
    `  update (hex): ${toHex(f.update)}`,
    `  update: ${describeUpdate(f.update)}`,
    ...(f.minimal ? [`  minimal update (hex): ${toHex(f.minimal)}`, `  minimal update: ${describeUpdate(f.minimal)}`] : []),
    `  expected: ${f.expected}`,
    `  actual: ${f.actual}`,
    `  replay: ${replay}`,
    ...(process.env.GUARD_DUMP ? [`  server client id ${f.serverClient}, owners ${JSON.stringify(f.owners)}`, `  server state (hex): ${toHex(f.serverState)}`] : []),
  ].join('\n')
}

// Re-exported for the targeted tests.
export { anyBytes, nestedArrayBytes, objectWithRawBytes }
