// The write guard's decision: resolve every change of an incoming update to its path in the
// server's document and check it against the surface's write rules. Nothing here mutates the
// document; the caller refuses the whole update when a reason comes back.
import * as Y from 'yjs'
import { RuleBook, type Path } from '../../docs-model/rules.ts'
import type { Op, RootDecl, Surface, WriteContext, WriteRule } from '../../docs-model/types.ts'
import { ANY, DELETED, GC, SUBDOC, TYPE, decodeUpdate, MalformedUpdate, type DecodedUpdate, type DeleteRange, type NewStruct } from './decode.ts'

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

/** Paths of the server's types; a type never moves, so they stay valid. */
const typePaths = new WeakMap<Y.AbstractType<any>, Path>()

/**
 * Who writes under a Yjs client id. `claim` is asked once per client id the update adds structs
 * for; it returns why that id is not this writer's, or null.
 */
export interface ClientIds {
  claim(client: number): string | null
}

/** Returns why the update must be refused, or null when every change is allowed. */
export function checkUpdate(update: Uint8Array, surface: Surface, ctx: WriteContext, clientIds?: ClientIds): string | null {
  const store = ctx.doc.store
  let decoded: DecodedUpdate
  try {
    decoded = decodeUpdate(update, (client) => Y.getState(store, client))
  } catch (error) {
    if (error instanceof MalformedUpdate) return `bad-message: ${error.message}`
    throw error
  }
  try {
    return new Check(decoded, surface, ctx, clientIds).run()
  } catch (error) {
    if (error instanceof Unresolvable) return `forbidden-write: ${error.message}`
    throw error
  }
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
  private readonly clientIds: ClientIds | undefined
  /** Structs of this update already known to sit at the end of an append-only list. */
  private readonly appended = new Map<NewStruct, boolean>()

  constructor(decoded: DecodedUpdate, surface: Surface, ctx: WriteContext, clientIds: ClientIds | undefined) {
    this.clientIds = clientIds
    this.decoded = decoded
    this.surface = surface
    this.ctx = ctx
    this.store = ctx.doc.store
    this.rules = new RuleBook(surface, ctx)
  }

  run(): string | null {
    for (const [client, structs] of this.decoded.clients) {
      if (structs.length === 0) continue
      const claimed = this.clientIds?.claim(client)
      if (claimed) return claimed
      let expected = Y.getState(this.store, client)
      for (const struct of structs) {
        if (struct.clock + struct.known !== expected) throw new Unresolvable(`update depends on changes the server does not have (${client}:${expected})`)
        expected = struct.clock + struct.length
        const reason = this.checkInsert(struct)
        if (reason) return reason
      }
    }
    for (const range of this.decoded.deletes) {
      const reason = this.checkDelete(range.client, range.clock, range.len)
      if (reason) return reason
    }
    return null
  }

  private checkInsert(struct: NewStruct): string | null {
    if (struct.content === GC) return null
    const location = this.resolve(struct)
    if (location === null) return null
    const path = this.pathOf(location)
    const decl: RootDecl | undefined = this.surface.layout[path[0]]
    if (!decl) return `forbidden-write: ${show(path)} (no such root in ${this.surface.pattern})`
    if (struct.content === SUBDOC) return `forbidden-write: ${show(path)} (subdocuments are not allowed)`
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
    if (location.sub !== null && this.decoded.deletes.length > 0 && struct.rightClient < 0 && !this.deletedByUpdate(struct)) {
      this.markReplaced(location.parent, location.sub)
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

  /** True when every rule that lets this writer insert at `path` only appends. */
  private appendOnly(path: Path): boolean {
    const decision = this.decisions.get(path)
    return Array.isArray(decision) && decision.every((rule) => rule.append === true)
  }

  /** Whether the struct goes after the list's current last element (or starts an empty list). */
  private appendsAtEnd(struct: NewStruct, root: string): boolean {
    if (struct.rightClient >= 0) return false
    if (struct.originClient < 0) return (this.ctx.doc.share.get(root) as Y.AbstractType<any> | undefined)?._start == null
    const left = this.find(struct.originClient, struct.originClock)
    if (left instanceof Y.Item) return left.right === null && struct.originClock === left.id.clock + left.length - 1
    if (left instanceof Y.GC || struct.originClock !== left.clock + left.length - 1) return false
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
    if (parent instanceof Y.Item) {
      if (!(parent.content instanceof Y.ContentType)) throw new Unresolvable(`parent ${struct.parentClient}:${struct.parentClock} is not a type`)
      return this.locate(parent.content.type, struct.parentSub)
    }
    const created = parent as NewStruct
    if (created.content !== TYPE) throw new Unresolvable(`parent ${struct.parentClient}:${struct.parentClock} is not a type`)
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
        const list = this.deletesByClient.get(range.client) ?? []
        list.push(range)
        this.deletesByClient.set(range.client, list)
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

const KIND_NAMES: Record<RootDecl['kind'], string> = { map: 'a map', array: 'an array', xml: 'an XML fragment', text: 'a text' }

const show = (path: Path): string => path.join('/')

const isRoot = (parent: Location['parent']): boolean => typeof parent === 'string' || (parent instanceof Y.AbstractType && parent._item === null)

const isGc = (s: Y.Item | Y.GC | NewStruct | null): boolean => s !== null && (s instanceof Y.GC || (!(s instanceof Y.Item) && s.content === GC))
