// The write guard's decision: resolve every change of an incoming update to its path in the
// server's document and check it against the surface's write rules. Nothing here mutates the
// document; the caller refuses the whole update when a reason comes back.
import * as Y from 'yjs'
import * as map from 'lib0/map'
import { clockSkew, RuleBook, type Path } from '../../docs-model/rules.ts'
import { unknownRootReason } from '../../docs-model/refusals.ts'
import type { Op, RootDecl, Surface, WriteContext, WriteRule } from '../../docs-model/types.ts'
import {
  ANY, DELETED, EMBED, FORMAT, GC, STRING, SUBDOC, TYPE, DEFAULT_DECODE_LIMITS, decodeUpdate, MalformedUpdate, OversizedUpdate,
  type DecodedUpdate, type DecodeLimits, type DeleteRange, type NewStruct,
} from './decode.ts'

/**
 * Where an item lives: its parent (a root named in the update, a type the server has, or a
 * type this update creates) and its map key (null in lists, text and XML).
 */
interface Location {
  parent: string | Y.AbstractType<any> | NewStruct
  sub: string | null
  path?: Path
}

class Unresolvable extends Error {}
/**
 * The update builds on changes the server does not hold. An honest client gets here when the
 * instance it wrote to died before passing its change on: it still has that change, and sends it
 * in the sync that follows a reconnect. So this is a passing refusal, never a reason to drop the
 * client's copy.
 */
class MissingDependency extends Unresolvable {}

/** Paths of the server's types; a type never moves, so they stay valid. */
const typePaths = new WeakMap<Y.AbstractType<any>, Path>()

/** The owner of the server's own client ids; not a valid token `sub`, so no user can be it. */
export const SERVER_OWNER = ':server'

/** Who owns each Yjs client id of the document: the user who first wrote under it, or SERVER_OWNER. */
export interface Owners {
  /** The recorded owner, or undefined when nobody has written under the id yet. */
  of(client: number): string | undefined
  /** The user whose connection uses the id for presence, if one does. */
  presence?(client: number): string | undefined
}

export interface CheckOptions {
  /** Without owners, client ids are not checked (rule tests and benchmarks). */
  owners?: Owners
  limits?: DecodeLimits
}

export interface Verdict {
  /** Why the update must be refused, or null when every change is allowed. */
  reason: string | null
  /** Client ids nobody owns yet that the update writes under: the sender's once it is accepted. */
  claims: number[]
  /** New structs the update carries, and their encoded bytes. */
  structs: number
  bytes: number
}

/** Decodes an update against the server's copy; a refusal reason when it cannot be read or is over a limit. */
export function readUpdate(update: Uint8Array, doc: Y.Doc, limits: DecodeLimits = DEFAULT_DECODE_LIMITS): DecodedUpdate | string {
  try {
    return decodeUpdate(update, (client) => Y.getState(doc.store, client), limits)
  } catch (error) {
    if (error instanceof MalformedUpdate) return `bad-message: ${error.message}`
    if (error instanceof OversizedUpdate) return error.message
    throw error
  }
}

/** The guard's whole decision on a decoded update. */
export function judge(decoded: DecodedUpdate, surface: Surface, ctx: WriteContext, owners?: Owners): Verdict {
  typeRoots(ctx.doc, surface)
  const check = new Check(decoded, surface, ctx, owners)
  let reason: string | null
  try {
    reason = check.run()
  } catch (error) {
    if (!(error instanceof Unresolvable)) throw error
    reason = error instanceof MissingDependency ? `unavailable: ${error.message}; reconnect to send them first` : `forbidden-write: ${error.message}`
  }
  return { reason, claims: reason ? [] : check.claims, structs: decoded.structs, bytes: decoded.bytes }
}

/** Decodes and judges `update`. */
export function inspectUpdate(update: Uint8Array, surface: Surface, ctx: WriteContext, options: CheckOptions = {}): Verdict {
  const decoded = readUpdate(update, ctx.doc, options.limits)
  if (typeof decoded === 'string') return { reason: decoded, claims: [], structs: 0, bytes: 0 }
  return judge(decoded, surface, ctx, options.owners)
}

/** Returns why the update must be refused, or null when every change is allowed. */
export function checkUpdate(update: Uint8Array, surface: Surface, ctx: WriteContext, options: CheckOptions = {}): string | null {
  return inspectUpdate(update, surface, ctx, options).reason
}

type Decision = WriteRule[] | string

class Check {
  private readonly decoded: DecodedUpdate
  private readonly surface: Surface
  private readonly ctx: WriteContext
  private readonly store: Y.Doc['store']
  private readonly rules: RuleBook
  private readonly decisions = new Map<Path, Decision>()
  private readonly rootPaths = new Map<string, Path>()
  /** Map keys this update gives a new current value: deleting the old value there is part of that insert. */
  private readonly replaced = new Map<Y.AbstractType<any> | string, Set<string>>()
  private readonly locations = new Map<Location['parent'], Location>()
  private readonly chain: NewStruct[] = []
  private deletesByClient: Map<number, DeleteRange[]> | undefined
  private readonly owners: Owners | undefined
  /** Structs of this update already known to sit at the end of an append-only list. */
  private readonly appended = new Map<NewStruct, boolean>()
  readonly claims: number[] = []

  constructor(decoded: DecodedUpdate, surface: Surface, ctx: WriteContext, owners: Owners | undefined) {
    this.owners = owners
    this.decoded = decoded
    this.surface = surface
    this.ctx = ctx
    this.store = ctx.doc.store
    this.rules = new RuleBook(surface, ctx)
  }

  run(): string | null {
    const foreign = this.checkOwners()
    if (foreign) return foreign
    this.checkIntegration()
    for (const structs of this.decoded.clients.values()) {
      for (const struct of structs) {
        const reason = this.checkInsert(struct)
        if (reason) return reason
      }
    }
    const placed = this.checkPlacements()
    if (placed) return placed
    const keys = this.checkKeys()
    if (keys) return keys
    for (const range of this.decoded.deletes) {
      const reason = this.checkDelete(range.client, range.clock, range.len)
      if (reason) return reason
    }
    return null
  }

  /**
   * Only a client id's owner may add anything under it. An id nobody owns is claimed by the
   * sender, unless the server already holds structs under it (written before ownership was
   * recorded, or on another instance a moment ago): those are nobody's to continue.
   */
  private checkOwners(): string | null {
    if (!this.owners) return null
    for (const client of this.decoded.written) {
      const owner = client === this.ctx.doc.clientID ? SERVER_OWNER : this.owners.of(client)
      if (owner === this.ctx.user.sub) continue
      if (owner === SERVER_OWNER) return `forbidden-write: client id ${client} is the server's`
      if (owner !== undefined) return `forbidden-write: client id ${client} belongs to another user`
      const present = this.owners.presence?.(client)
      if (present !== undefined && present !== this.ctx.user.sub) return `forbidden-write: client id ${client} belongs to another user`
      if (Y.getState(this.store, client) > 0) return `forbidden-write: client id ${client} has changes by someone else`
      this.claims.push(client)
    }
    return null
  }

  /**
   * Replays Yjs' integration order (integrateStructs in yjs/src/utils/encoding.js) on the new
   * structs without touching the document, and refuses what Yjs would not integrate at once: a
   * struct that would wait in the pending queue is applied later, when the guard no longer
   * looks; one naming a later struct of its own client would make Yjs throw halfway.
   */
  private checkIntegration(): void {
    if (this.decoded.clients.size === 1 && this.integratesInOrder()) return
    const clients = [...this.decoded.clients.keys()].filter((c) => this.decoded.clients.get(c)!.length > 0).sort((a, b) => a - b)
    const next = new Map<number, number>()
    const state = new Map<number, number>()
    const stateOf = (client: number) => state.get(client) ?? Y.getState(this.store, client)
    const take = (client: number): NewStruct | undefined => {
      const structs = this.decoded.clients.get(client)
      const i = next.get(client) ?? 0
      if (!structs || i >= structs.length) return undefined
      next.set(client, i + 1)
      return structs[i]
    }
    const missingOf = (s: NewStruct): number | null => {
      if (s.originClient >= 0 && s.originClient !== s.client && s.originClock >= stateOf(s.originClient)) return s.originClient
      if (s.rightClient >= 0 && s.rightClient !== s.client && s.rightClock >= stateOf(s.rightClient)) return s.rightClient
      if (s.parentClient >= 0 && s.parentClient !== s.client && s.parentClock >= stateOf(s.parentClient)) return s.parentClient
      return null
    }
    const stack: NewStruct[] = []
    let head: NewStruct | undefined
    const nextHead = (): NewStruct | undefined => {
      if (stack.length > 0) return stack.pop()
      while (clients.length > 0) {
        const struct = take(clients[clients.length - 1])
        if (struct) return struct
        clients.pop()
      }
      return undefined
    }
    head = nextHead()
    while (head) {
      const local = stateOf(head.client)
      if (local < head.clock) throw new MissingDependency(`update depends on changes the server does not have (${head.client}:${local})`)
      const missing = missingOf(head)
      if (missing !== null) {
        stack.push(head)
        head = take(missing)
        if (!head) throw new MissingDependency(`update depends on changes the server does not have (${missing}:${stateOf(missing)})`)
        continue
      }
      if (local < head.clock + head.length) {
        if (
          (head.originClient === head.client && head.originClock >= local) ||
          (head.rightClient === head.client && head.rightClock >= local) ||
          (head.parentClient === head.client && head.parentClock >= local)
        ) {
          throw new Unresolvable(`struct ${head.client}:${head.clock} names a later change of its own client`)
        }
        state.set(head.client, head.clock + head.length)
      }
      head = nextHead()
    }
  }

  /**
   * The common case, without replaying: one client whose structs depend only on what the server
   * has; Yjs then integrates them in order. False sends the update through the full replay.
   */
  private integratesInOrder(): boolean {
    const [[client, structs]] = this.decoded.clients
    let local = Y.getState(this.store, client)
    for (const s of structs) {
      if (s.clock > local) return false
      if (s.originClient >= 0 && s.originClient !== client && s.originClock >= Y.getState(this.store, s.originClient)) return false
      if (s.rightClient >= 0 && s.rightClient !== client && s.rightClock >= Y.getState(this.store, s.rightClient)) return false
      if (s.parentClient >= 0 && s.parentClient !== client && s.parentClock >= Y.getState(this.store, s.parentClient)) return false
      if ((s.originClient === client && s.originClock >= local) || (s.rightClient === client && s.rightClock >= local) || (s.parentClient === client && s.parentClock >= local)) return false
      local = s.clock + s.length
    }
    return true
  }

  private checkInsert(struct: NewStruct): string | null {
    if (struct.content === GC) return null
    const location = this.resolve(struct)
    if (location === null) return null
    this.located.add(struct)
    if (struct.known > 0 && !this.continuesInPlace(struct, location)) {
      return `forbidden-write: struct ${struct.client}:${struct.clock} continues an item that lives elsewhere`
    }
    const path = this.pathOf(location)
    const decl: RootDecl | undefined = this.surface.layout[path[0]]
    if (!decl) return unknownRootReason(show(path), this.surface)
    if (struct.content === SUBDOC) return `forbidden-write: ${show(path)} (subdocuments are not allowed)`
    if (location.sub === null && !fitsList(listKind(location.parent, decl), struct)) {
      return `forbidden-write: ${show(path)} (${CONTENT_NAMES[struct.content] ?? 'this content'} does not belong in ${KIND_NAMES[listKind(location.parent, decl) === 'xml' ? 'xml' : 'text']})`
    }
    let values: unknown[] | null = null
    if (isRoot(location.parent)) {
      if ((decl.kind === 'map') !== (location.sub !== null)) return `forbidden-write: ${show(path)} (${path[0]} is declared as ${KIND_NAMES[decl.kind]})`
      if (struct.content === ANY) values = struct.known > 0 ? struct.values!.slice(struct.known) : struct.values
      else if (decl.value && struct.content !== DELETED) return `forbidden-write: ${show(path)} (value must be plain JSON)`
    }
    const reason = this.decide('insert', path, values)
    if (reason) return reason
    if (isRoot(location.parent) && location.sub === null && this.appendOnly(path) && !this.appendsAtEnd(struct, path[0])) {
      return `forbidden-write: ${show(path)} (append only)`
    }
    if (values && decl.value) {
      for (const value of values) {
        const parsed = decl.value.safeParse(value)
        if (!parsed.success) {
          const issue = parsed.error.issues[0]
          const at = issue.path.length > 0 ? ` at ${issue.path.join('.')}` : ''
          return `forbidden-write: ${show(path)} (invalid value${at}: ${issue.message})`
        }
      }
    }
    if (values && this.ctx.time && !decl.opaque) {
      for (const value of values) {
        const skew = clockSkew(path, value, this.ctx.time)
        if (skew) return skew
      }
    }
    if (location.sub !== null) {
      if (struct.rightClient >= 0) return `forbidden-write: ${show(path)} (a map entry with a right origin)`
      this.atKey(location).push(struct)
    } else if (struct.rightClient >= 0 && (struct.originClient >= 0 || struct.known > 0)) {
      const [originClient, originClock] = originOf(struct)
      const old = originClock < Y.getState(this.store, originClient) && struct.rightClock < Y.getState(this.store, struct.rightClient)
      if (!old) this.placements.push({ struct, path })
      else if (!this.rightOfOrigin(struct)) return `forbidden-write: ${show(path)} (right origin is not right of the origin)`
    }
    return null
  }

  /** List structs with a neighbour created by this update: proven in order by `checkPlacements`. */
  private readonly placements: Array<{ struct: NewStruct; path: Path }> = []
  /** New structs that land in a type (not dropped by Yjs): the only ones a placement proof may pass through. */
  private readonly located = new Set<NewStruct>()
  /** Steps `leftOf` may still take in this update. */
  private budget = 0

  /**
   * A struct whose origin or right origin is new in this update: its origin must end up left of
   * its right origin, or Yjs places it by integration order (see rightOfOrigin). Proven from facts
   * that hold whatever the update claims: a struct lands right of its origin; its clocks keep
   * their order; the server's items keep theirs; and a struct already proven lands left of its
   * right origin. Only proven structs' right origins are used, so two false claims cannot prove
   * each other; what stays unproven is refused.
   */
  private checkPlacements(): string | null {
    if (this.placements.length === 0) return null
    const placing = new Set(this.placements.map((p) => p.struct))
    const proven = new Set<NewStruct>()
    const byOrigin = new Map<number, NewStruct[]>()
    for (const structs of this.decoded.clients.values()) {
      for (const s of structs) {
        if (this.located.has(s) && !placing.has(s)) proven.add(s)
        if (s.originClient >= 0 || s.known > 0) map.setIfUndefined(byOrigin, originOf(s)[0], (): NewStruct[] => []).push(s)
      }
    }
    // A bounded search: a hostile update cannot make the server walk without end.
    this.budget = 200_000 + 50 * this.decoded.structs
    let waiting = this.placements
    for (let progress = true; waiting.length > 0 && progress; ) {
      const still = waiting.filter(({ struct }) => !this.leftOf(originOf(struct), [struct.rightClient, struct.rightClock], proven, byOrigin))
      progress = still.length < waiting.length
      const unproven = new Set(still.map((w) => w.struct))
      for (const { struct } of waiting) if (!unproven.has(struct)) proven.add(struct)
      waiting = still
    }
    return waiting.length > 0 ? `forbidden-write: ${show(waiting[0].path)} (right origin is not right of the origin)` : null
  }

  /** Whether point `from` is certainly left of point `to` in one list (a search over the facts above). */
  private leftOf(from: [number, number], to: [number, number], proven: Set<NewStruct>, byOrigin: Map<number, NewStruct[]>): boolean {
    const [toClient, toClock] = to
    /** Points right of `from` still to visit: each an exact (client, clock) of a struct. */
    const queue: Array<[number, number]> = []
    const seen = new Map<NewStruct | Y.Item, number>()
    let steps = 0
    /** Visits the points [first, end) of one struct or item; true when `to` is among them. */
    const visit = (struct: NewStruct | Y.Item, client: number, first: number, end: number): boolean | undefined => {
      if (first >= end || (seen.get(struct) ?? Infinity) <= first) return undefined
      seen.set(struct, first)
      if (client === toClient && toClock >= first && toClock < end) return true
      for (const s of byOrigin.get(client) ?? []) {
        const clock = originOf(s)[1]
        if (clock >= first && clock < end) queue.push([s.client, s.clock + s.known])
      }
      return false
    }
    /** From a point of the server's items: they keep their order, so walk right. */
    const walk = (start: Y.Item, first: number): boolean => {
      for (let item: Y.Item | null = start, walked = 0; item !== null && walked < MAX_WALK; item = item.right, walked++) {
        if (--this.budget < 0) return false
        const visited = visit(item, item.id.client, item === start ? first : item.id.clock, item.id.clock + item.length)
        if (visited) return true
        if (visited === undefined && item !== start) return false
      }
      return false
    }
    /** From a point of a new struct: the rest of it, and past its right origin once proven. */
    const follow = (struct: NewStruct, first: number): boolean => {
      if (!this.located.has(struct)) return false
      const visited = visit(struct, struct.client, first, struct.clock + struct.length)
      if (visited) return true
      if (proven.has(struct) && struct.rightClient >= 0) queue.push([struct.rightClient, struct.rightClock])
      return false
    }
    const visitPoint = (client: number, clock: number, after: boolean): boolean => {
      const found = this.find(client, clock)
      if (found instanceof Y.GC) return false
      if (found instanceof Y.Item) return walk(found, clock + (after ? 1 : 0))
      return follow(found, clock + (after ? 1 : 0))
    }
    // Structs whose origin is `from` itself lie right of it.
    const [fromClient, fromClock] = from
    for (const s of byOrigin.get(fromClient) ?? []) if (originOf(s)[1] === fromClock) queue.push([s.client, s.clock + s.known])
    if (visitPoint(fromClient, fromClock, true)) return true
    for (let point = queue.pop(); point; point = queue.pop()) {
      if (++steps > MAX_WALK || --this.budget < 0) return false
      if (visitPoint(point[0], point[1], false)) return true
    }
    return false
  }

  /**
   * A struct goes between its origin and its right origin; Yjs does not check that the second
   * is right of the first, and where it is not, the place depends on the order structs are
   * integrated in, which differs between the live document and one reloaded from storage. Checked
   * for neighbours the server has, walking right from the origin (honest items between the two are
   * concurrent inserts, few); neighbours created by the update follow from their own checks.
   */
  private rightOfOrigin(struct: NewStruct): boolean {
    const [originClient, originClock] = originOf(struct)
    const { rightClient, rightClock } = struct
    if (originClock >= Y.getState(this.store, originClient) || rightClock >= Y.getState(this.store, rightClient)) return true
    const left = this.find(originClient, originClock)
    if (!(left instanceof Y.Item)) return true
    if (holds(left, rightClient, rightClock)) return rightClock > originClock
    let item = left.right
    for (let steps = 0; item !== null && steps < MAX_WALK; steps++, item = item.right) {
      if (holds(item, rightClient, rightClock)) return true
    }
    // Not found to the right: fine only where Yjs drops the struct anyway (a collected neighbour).
    return !(this.find(rightClient, rightClock) instanceof Y.Item)
  }

  /** New structs per map key (parent, then key), collected while checking inserts. */
  private readonly keyed = new Map<Location['parent'], Map<string, { location: Location; structs: NewStruct[] }>>()

  private atKey(location: Location): NewStruct[] {
    const parent = typeof location.parent === 'string' ? (this.ctx.doc.share.get(location.parent) ?? location.parent) : location.parent
    let keys = this.keyed.get(parent)
    if (!keys) this.keyed.set(parent, (keys = new Map()))
    let entry = keys.get(location.sub!)
    if (!entry) keys.set(location.sub!, (entry = { location, structs: [] }))
    return entry.structs
  }

  /**
   * What the update leaves at each map key it writes. Yjs makes the last item of a key's history
   * its value and deletes the previous one (Item.integrate), so a new struct either replaces the
   * value (an insert) or, when it carries deleted content or the update deletes it, removes it
   * (a delete, checked as one). The new structs at a key must form one chain (each continuing the
   * previous one) ending in a live value for the key to certainly keep one: wherever Yjs places
   * the chain among concurrent values, its end follows its start directly. Only a chain that
   * starts at the server's current item certainly replaces it, which makes deleting that item
   * part of the insert.
   */
  private checkKeys(): string | null {
    for (const [parent, keys] of this.keyed) {
      const type = parent instanceof Y.AbstractType ? parent : undefined
      for (const [sub, { location, structs }] of keys) {
        const current = type?._map.get(sub) ?? null
        const chain = chainOf(structs)
        if (chain && chain.last.content !== DELETED && !this.deletedByUpdate(chain.last)) {
          const [client, clock] = originOf(chain.first)
          const fromCurrent = current === null ? client < 0 : client === current.id.client && clock === current.id.clock + current.length - 1
          if (fromCurrent && this.decoded.deletes.length > 0) this.markReplaced(parent, sub)
          continue
        }
        if (!current || current.deleted) continue
        const values = current.content instanceof Y.ContentAny ? current.content.arr.slice(-1) : current.content instanceof Y.ContentType ? [current.content.type] : null
        const reason = this.decide('delete', this.pathOf(location), values)
        if (reason) return reason
      }
    }
    return null
  }

  private checkDelete(client: number, clock: number, len: number): string | null {
    const end = clock + len
    const state = Y.getState(this.store, client)
    if (end > state) {
      const created = this.decoded.clients.get(client)
      const last = created?.[created.length - 1]
      const createdEnd = last ? last.clock + last.length : state
      if (end > createdEnd) return `forbidden-write: delete of unknown item ${client}:${Math.max(clock, createdEnd)}`
    }
    if (clock >= state) return null // only items this update creates
    const structs = this.store.clients.get(client)!
    for (let i = Y.findIndexSS(structs, clock); i < structs.length; i++) {
      const item = structs[i]
      if (item.id.clock >= end) break
      if (!(item instanceof Y.Item) || item.deleted) continue
      const parent = item.parent as Y.AbstractType<any>
      if (item.parentSub !== null && this.replaced.get(parent)?.has(item.parentSub)) continue
      const path = this.pathOf(this.locate(parent, item.parentSub))
      let values: unknown[] | null = null
      if (item.content instanceof Y.ContentAny) {
        const from = Math.max(clock, item.id.clock) - item.id.clock
        values = item.content.arr.slice(from, Math.min(end, item.id.clock + item.length) - item.id.clock)
      } else if (item.content instanceof Y.ContentType) {
        values = [item.content.type]
      }
      const reason = this.decide('delete', path, values)
      if (reason) return reason
    }
    return null
  }

  /**
   * The rules that grant `op` at `path` and are not frozen decide; a reason when none does.
   * Values are checked one by one: inserted values against `rule.value`, deleted ones against `rule.owner`.
   */
  private decide(op: Op, path: Path, values: unknown[] | null): string | null {
    const cache = op === 'insert' ? this.decisions : undefined
    let decision = cache?.get(path)
    if (decision === undefined) {
      decision = this.rulesAt(op, path)
      cache?.set(path, decision)
    }
    if (typeof decision === 'string') return decision
    if (op === 'insert') {
      if (!values || decision.some((rule) => !rule.value)) return null
      for (const value of values) {
        let why: string | null = null
        for (const rule of decision) {
          why = rule.value!(value, this.ctx, path)
          if (why === null) break
        }
        if (why !== null) return `forbidden-write: ${show(path)} (${why})`
      }
      return null
    }
    if (decision.some((rule) => !rule.owner)) return null
    for (const value of values ?? [undefined]) {
      if (!decision.some((rule) => rule.owner!(value) === this.ctx.user.sub)) return `forbidden-write: ${show(path)} (not yours to delete)`
    }
    return null
  }

  /**
   * A struct the server has the start of: Yjs integrates only the rest (Item.integrate with
   * offset > 0), with the server's last item of that client as its left neighbour, whatever
   * origin the struct names; stored and reloaded, it lives in that neighbour's parent. So the
   * neighbour must live exactly where the struct says it goes (as it does for an honest resend
   * of a struct that grew).
   */
  private continuesInPlace(struct: NewStruct, location: Location): boolean {
    const left = this.find(struct.client, struct.clock + struct.known - 1)
    if (!(left instanceof Y.Item) || left.parentSub !== location.sub) return false
    const parent = location.parent
    if (typeof parent === 'string') return this.ctx.doc.share.get(parent) === left.parent
    return parent === left.parent
  }

  /** True when every rule that lets this writer insert at `path` only appends. */
  private appendOnly(path: Path): boolean {
    const decision = this.decisions.get(path)
    return Array.isArray(decision) && decision.every((rule) => rule.append === true)
  }

  /** Whether the struct goes after the list's current last element (or starts an empty list). */
  private appendsAtEnd(struct: NewStruct, root: string): boolean {
    if (struct.rightClient >= 0) return false
    // A struct the server has the start of continues after its own last known clock.
    const [originClient, originClock] = struct.known > 0 ? [struct.client, struct.clock + struct.known - 1] : [struct.originClient, struct.originClock]
    if (originClient < 0) return (this.ctx.doc.share.get(root) as Y.AbstractType<any> | undefined)?._start == null
    const left = this.find(originClient, originClock)
    if (left instanceof Y.Item) return left.right === null && originClock === left.id.clock + left.length - 1
    if (left instanceof Y.GC || originClock !== left.clock + left.length - 1) return false
    let appended = this.appended.get(left)
    if (appended === undefined) this.appended.set(left, (appended = this.appendsAtEnd(left, root)))
    return appended
  }

  private rulesAt(op: Op, path: Path): Decision {
    const granting = this.rules.granting(path, op)
    if (granting.length === 0) return `forbidden-write: ${show(path)}`
    const open = granting.filter((rule) => this.rules.frozen(rule) === null)
    return open.length > 0 ? open : this.rules.frozen(granting[0])!
  }

  /** Where Yjs will put `start`, following origins as Yjs does (Item.getMissing); null when it has no effect. */
  private resolve(start: NewStruct): Location | null {
    if (start.location !== undefined) return start.location as Location | null
    const chain = this.chain
    let size = 0
    let struct = start
    let result: Location | null
    for (;;) {
      if (struct.location !== undefined) {
        result = struct.location as Location | null
        break
      }
      if (struct.visiting) throw new Unresolvable(`circular origins at ${struct.client}:${struct.clock}`)
      struct.visiting = true
      chain[size++] = struct
      const left = struct.originClient >= 0 ? this.find(struct.originClient, struct.originClock) : null
      // With a left neighbour the right one only matters if it was garbage collected, and then
      // Yjs drops the struct; checking it where the left one puts it is the stricter choice.
      const right = left === null && struct.rightClient >= 0 ? this.find(struct.rightClient, struct.rightClock) : null
      if (isGc(left) || isGc(right)) {
        result = null
        break
      }
      if (struct.parentRoot !== null) {
        result = this.locate(struct.parentRoot, struct.parentSub)
        break
      }
      if (struct.parentClient >= 0) {
        result = this.parentType(struct)
        break
      }
      const neighbour = left ?? right
      if (neighbour === null) throw new Unresolvable(`struct ${struct.client}:${struct.clock} has no parent`)
      if (neighbour instanceof Y.Item) {
        result = this.locate(neighbour.parent as Y.AbstractType<any>, neighbour.parentSub)
        break
      }
      struct = neighbour as NewStruct
    }
    // Everything on the chain inherits its place from the struct the chain ended at.
    for (let i = 0; i < size; i++) {
      chain[i].location = result
      chain[i].visiting = false
    }
    return result
  }

  private parentType(struct: NewStruct): Location | null {
    const parent = this.find(struct.parentClient, struct.parentClock)
    if (isGc(parent)) return null
    // Yjs takes the parent item's `content.type`; anything but a type (deleted content once the
    // parent was collected, which offline clients resend) leaves no parent: the struct becomes a GC.
    if (parent instanceof Y.Item) return parent.content instanceof Y.ContentType ? this.locate(parent.content.type, struct.parentSub) : null
    const created = parent as NewStruct
    if (created.content !== TYPE) return null
    // A type whose own item has no effect takes its children with it.
    return this.resolve(created) === null ? null : this.locate(created, struct.parentSub)
  }

  /** One Location object per list, text or XML parent, so its path and decision are computed once per update. */
  private locate(parent: Location['parent'], sub: string | null): Location {
    if (sub !== null) return { parent, sub } // map keys rarely repeat within one update
    let location = this.locations.get(parent)
    if (!location) this.locations.set(parent, (location = { parent, sub }))
    return location
  }

  /** The struct holding (client, clock): the server's (Item or GC) or one of this update's. */
  private find(client: number, clock: number): Y.Item | Y.GC | NewStruct {
    const structs = this.store.clients.get(client)
    if (structs) {
      const last = structs[structs.length - 1]
      if (clock < last.id.clock + last.length) return structs[Y.findIndexSS(structs, clock)]
    }
    const created = this.decoded.clients.get(client)
    if (created && created.length > 0) {
      let lo = 0
      let hi = created.length - 1
      const first = created[0].clock
      const end = created[hi].clock + created[hi].length
      // The first probe interpolates (as Yjs' findIndexSS does): with structs of similar length it
      // lands on the right one, sparing a cache miss per halving in large updates.
      let mid = Math.min(hi, Math.max(0, Math.floor(((clock - first) / (end - first)) * created.length)))
      while (lo <= hi) {
        const s = created[mid]
        if (clock < s.clock) hi = mid - 1
        else if (clock >= s.clock + s.length) lo = mid + 1
        else return s
        mid = (lo + hi) >> 1
      }
    }
    throw new Unresolvable(`unknown item ${client}:${clock}`)
  }

  /** The path of an item at `location`: its parent's path, then its map key if it has one. */
  private pathOf(location: Location): Path {
    if (location.path) return location.path
    const parent = location.parent
    let base: Path
    if (typeof parent === 'string') {
      base = this.rootPaths.get(parent) ?? [parent]
      this.rootPaths.set(parent, base)
    } else if (parent instanceof Y.AbstractType) {
      base = this.typePath(parent)
    } else {
      base = this.pathOf(parent.location as Location)
    }
    location.path = location.sub === null ? base : [...base, location.sub]
    return location.path
  }

  /** The path of a type the server has: its root name, then the map keys down to it. */
  private typePath(type: Y.AbstractType<any>): Path {
    let path = typePaths.get(type)
    if (!path) {
      const item = type._item
      path = item === null ? [Y.findRootTypeKey(type)] : this.pathOf({ parent: item.parent as Y.AbstractType<any>, sub: item.parentSub })
      typePaths.set(type, path)
    }
    return path
  }

  private markReplaced(parent: Location['parent'], sub: string): void {
    const key = typeof parent === 'string' ? (this.ctx.doc.share.get(parent) ?? parent) : parent instanceof Y.AbstractType ? parent : undefined
    if (key === undefined) return
    let keys = this.replaced.get(key)
    if (!keys) this.replaced.set(key, (keys = new Set()))
    keys.add(sub)
  }

  private deletedByUpdate(struct: NewStruct): boolean {
    if (!this.deletesByClient) {
      this.deletesByClient = new Map()
      for (const range of this.decoded.deletes) {
        map.setIfUndefined(this.deletesByClient, range.client, () => [] as typeof range[]).push(range)
      }
      // Sorted and merged, so the one range that can hold a clock is found by binary search.
      for (const [client, list] of this.deletesByClient) {
        list.sort((a, b) => a.clock - b.clock)
        const merged: DeleteRange[] = []
        for (const range of list) {
          const previous = merged[merged.length - 1]
          if (previous && range.clock <= previous.clock + previous.len) previous.len = Math.max(previous.len, range.clock + range.len - previous.clock)
          else merged.push({ ...range })
        }
        this.deletesByClient.set(client, merged)
      }
    }
    const ranges = this.deletesByClient.get(struct.client)
    if (!ranges) return false
    // The last range starting at or before the struct's last clock is the only one that can hold it.
    const last = struct.clock + struct.length - 1
    let lo = 0
    let hi = ranges.length - 1
    let found = -1
    while (lo <= hi) {
      const mid = (lo + hi) >> 1
      if (ranges[mid].clock <= last) {
        found = mid
        lo = mid + 1
      } else hi = mid - 1
    }
    return found >= 0 && last < ranges[found].clock + ranges[found].len
  }
}

const TYPED_GETTERS: Record<RootDecl['kind'], (doc: Y.Doc, name: string) => unknown> = {
  map: (doc, name) => doc.getMap(name),
  array: (doc, name) => doc.getArray(name),
  xml: (doc, name) => doc.getXmlFragment(name),
  text: (doc, name) => doc.getText(name),
}

/**
 * A document loaded from storage holds its roots untyped until something asks for them typed;
 * Yjs then replaces the root object and re-parents its items. A rule reading a root mid-check
 * would pull the parents out from under the guard, so every declared root is typed first.
 */
function typeRoots(doc: Y.Doc, surface: Surface): void {
  for (const name in surface.layout) {
    const root = doc.share.get(name)
    if (root === undefined || root.constructor !== Y.AbstractType) continue
    const decl = surface.layout[name]
    try {
      TYPED_GETTERS[decl.kind](doc, name)
    } catch {
      // Stored as another kind: the kind check refuses writes there.
    }
  }
}

/** Whether `item` holds the clock `clock` of `client`. */
const holds = (item: Y.Item, client: number, clock: number): boolean => item.id.client === client && clock >= item.id.clock && clock < item.id.clock + item.length

/** Items walked from an origin looking for the right origin before giving up (refusing). */
const MAX_WALK = 10_000

/** The left neighbour Yjs integrates a struct after: its origin, or for a struct the server has the start of, its own last known clock. */
const originOf = (s: NewStruct): [number, number] => (s.known > 0 ? [s.client, s.clock + s.known - 1] : [s.originClient, s.originClock])

/** The structs as one chain (each one's origin the previous one's last clock), or null when they do not form one. */
function chainOf(structs: NewStruct[]): { first: NewStruct; last: NewStruct } | null {
  const byOrigin = new Map<string, NewStruct>()
  const ends = new Set<string>()
  for (const s of structs) {
    const key = originOf(s).join(':')
    if (byOrigin.has(key)) return null
    byOrigin.set(key, s)
    ends.add(`${s.client}:${s.clock + s.length - 1}`)
  }
  const starts = structs.filter((s) => !ends.has(originOf(s).join(':')))
  if (starts.length !== 1) return null
  let last = starts[0]
  for (let n = 1; n < structs.length; n++) {
    const next = byOrigin.get(`${last.client}:${last.clock + last.length - 1}`)
    if (!next) return null
    last = next
  }
  return { first: starts[0], last }
}

/**
 * What the list of a type holds, as Yjs' own types write it: an XML fragment or element holds
 * elements and text nodes; a text holds strings, embeds and formats. Anything else there (a
 * string straight in a fragment, say) is valid Yjs that the editors bound to it cannot render:
 * one such write would break the document for everyone.
 */
type ListKind = 'xml' | 'text' | 'any'
const XML_ELEMENT = 3
const XML_FRAGMENT = 4
const XML_TEXT = 6
const TEXT = 2

function listKind(parent: Location['parent'], root: RootDecl): ListKind {
  if (typeof parent === 'string' || (parent instanceof Y.AbstractType && parent._item === null)) return root.kind === 'xml' || root.kind === 'text' ? root.kind : 'any'
  if (parent instanceof Y.Text) return 'text' // Y.XmlText too
  if (parent instanceof Y.XmlFragment) return 'xml' // Y.XmlElement too
  if (parent instanceof Y.AbstractType) return 'any'
  if (parent.content !== TYPE) return 'any'
  if (parent.typeRef === XML_ELEMENT || parent.typeRef === XML_FRAGMENT) return 'xml'
  return parent.typeRef === TEXT || parent.typeRef === XML_TEXT ? 'text' : 'any'
}

function fitsList(kind: ListKind, struct: NewStruct): boolean {
  if (kind === 'any' || struct.content === DELETED) return true
  if (kind === 'xml') return struct.content === TYPE && (struct.typeRef === XML_ELEMENT || struct.typeRef === XML_TEXT)
  return struct.content === STRING || struct.content === EMBED || struct.content === FORMAT
}

const CONTENT_NAMES: Record<number, string> = { 2: 'JSON content', 3: 'binary content', [STRING]: 'a string', [EMBED]: 'an embed', [FORMAT]: 'a format', [TYPE]: 'a shared type', [ANY]: 'a plain value' }

const KIND_NAMES: Record<RootDecl['kind'], string> = { map: 'a map', array: 'an array', xml: 'an XML fragment', text: 'a text' }

const show = (path: Path): string => path.join('/')

const isRoot = (parent: Location['parent']): boolean => typeof parent === 'string' || (parent instanceof Y.AbstractType && parent._item === null)

const isGc = (s: Y.Item | Y.GC | NewStruct | null): boolean => s !== null && (s instanceof Y.GC || (!(s instanceof Y.Item) && s.content === GC))
