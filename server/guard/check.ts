// The write guard's decision: resolve every change of an incoming update to its path in the
// server's document and check it against the surface's write rules. Nothing here mutates the
// document; the caller refuses the whole update when a reason comes back.
import * as Y from 'yjs'
import { grantingRules, type Path } from '../../docs-model/rules.ts'
import type { Op, Surface, WriteContext, WriteRule } from '../../docs-model/types.ts'
import { ANY, DELETED, GC, SUBDOC, TYPE, decodeUpdate, MalformedUpdate, type DecodedUpdate, type NewStruct, type StructId } from './decode.ts'

/** Where an item lives: its parent type and its map key (null in lists, text and XML). */
interface Location {
  parent: Parent
  sub: string | null
}

/** A parent type: a root named in the update, a type the server has, or a type this update creates. */
type Parent = { root: string } | { type: Y.AbstractType<any> } | { created: NewStruct }

/** Changes with no effect once applied (their neighbour was garbage collected). */
const NO_EFFECT = 'no-effect' as const
type Resolved = Location | typeof NO_EFFECT

class Unresolvable extends Error {}

const rootPaths = new WeakMap<Y.AbstractType<any>, Path>()

/** Returns why the update must be refused, or null when every change is allowed. */
export function checkUpdate(update: Uint8Array, surface: Surface, ctx: WriteContext): string | null {
  const store = ctx.doc.store
  let decoded: DecodedUpdate
  try {
    decoded = decodeUpdate(update, (client) => Y.getState(store, client))
  } catch (error) {
    if (error instanceof MalformedUpdate) return `bad-message: ${error.message}`
    throw error
  }
  try {
    return new Check(decoded, surface, ctx).run()
  } catch (error) {
    if (error instanceof Unresolvable) return `forbidden-write: ${error.message}`
    throw error
  }
}

class Check {
  private readonly decoded: DecodedUpdate
  private readonly surface: Surface
  private readonly ctx: WriteContext
  private readonly doc: Y.Doc
  private readonly resolved = new Map<NewStruct, Resolved>()
  private readonly paths = new Map<NewStruct, Path>()
  private readonly decisions = new Map<string, WriteRule[] | string>()
  /** Map keys this update gives a new current value: deleting the old value there is part of that insert. */
  private readonly replaced = new Map<Y.AbstractType<any> | string, Set<string>>()

  constructor(decoded: DecodedUpdate, surface: Surface, ctx: WriteContext) {
    this.decoded = decoded
    this.surface = surface
    this.ctx = ctx
    this.doc = ctx.doc
  }

  run(): string | null {
    for (const [client, structs] of this.decoded.clients) {
      let expected = Y.getState(this.doc.store, client)
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
    if (location === NO_EFFECT) return null
    const path = this.pathOf(struct, location)
    const shown = path.join('/')
    const decl = this.surface.layout[path[0]]
    if (!decl) return `forbidden-write: ${shown} (no such root in ${this.surface.pattern})`
    if (struct.content === SUBDOC) return `forbidden-write: ${shown} (subdocuments are not allowed)`
    const topLevel = 'root' in location.parent || ('type' in location.parent && location.parent.type._item === null)
    let values: unknown[] | null = null
    if (topLevel) {
      if ((decl.kind === 'map') !== (location.sub !== null)) return `forbidden-write: ${shown} (${path[0]} is declared as ${decl.kind === 'map' ? 'a map' : `an ${decl.kind === 'array' ? 'array' : decl.kind}`})`
      if (struct.content === ANY) values = struct.known > 0 ? struct.values!.slice(struct.known) : struct.values
      else if (decl.value && struct.content !== DELETED) return `forbidden-write: ${shown} (value must be plain JSON)`
    }
    const reason = this.decide('insert', path, shown, values)
    if (reason) return reason
    if (values && decl.value) {
      for (const value of values) {
        const parsed = decl.value.safeParse(value)
        if (!parsed.success) {
          const issue = parsed.error.issues[0]
          const at = issue.path.length > 0 ? ` at ${issue.path.join('.')}` : ''
          return `forbidden-write: ${shown} (invalid value${at}: ${issue.message})`
        }
      }
    }
    if (location.sub !== null && struct.rightOrigin === null && !this.deletedByUpdate(struct)) this.markReplaced(location, location.sub)
    return null
  }

  private checkDelete(client: number, clock: number, len: number): string | null {
    const end = clock + len
    const state = Y.getState(this.doc.store, client)
    if (end > state) {
      const created = this.decoded.clients.get(client)
      const createdEnd = created && created.length > 0 ? created[created.length - 1].clock + created[created.length - 1].length : state
      if (end > createdEnd) return `forbidden-write: delete of unknown item ${client}:${Math.max(clock, createdEnd)}`
    }
    if (clock >= state) return null // only items this update creates
    const structs = this.doc.store.clients.get(client)!
    for (let i = Y.findIndexSS(structs, clock); i < structs.length; i++) {
      const item = structs[i]
      if (item.id.clock >= end || item.id.clock >= state) break
      if (!(item instanceof Y.Item) || item.deleted) continue
      const parent = item.parent as Y.AbstractType<any>
      if (item.parentSub !== null && this.replaced.get(parent)?.has(item.parentSub)) continue
      const path = this.serverPath(parent, item.parentSub)
      let values: unknown[] | null = null
      if (item.content instanceof Y.ContentAny) {
        const from = Math.max(clock, item.id.clock) - item.id.clock
        values = item.content.arr.slice(from, Math.min(end, item.id.clock + item.length) - item.id.clock)
      } else if (item.content instanceof Y.ContentType) {
        values = [item.content.type]
      }
      const reason = this.decide('delete', path, path.join('/'), values)
      if (reason) return reason
    }
    return null
  }

  /**
   * The rules that grant `op` at `path` and are not frozen; a reason when there are none.
   * Values are checked per value: inserted values against `rule.value`, deleted ones against `rule.owner`.
   */
  private decide(op: Op, path: Path, shown: string, values: unknown[] | null): string | null {
    const key = `${op}\u0000${shown}`
    let rules = this.decisions.get(key)
    if (rules === undefined) {
      const granting = grantingRules(this.surface, path, op, this.ctx)
      if (granting.length === 0) rules = `forbidden-write: ${shown}`
      else {
        const open = granting.filter((rule) => !rule.frozen?.(this.ctx))
        rules = open.length > 0 ? open : (granting[0].frozen!(this.ctx) as string)
      }
      this.decisions.set(key, rules)
    }
    if (typeof rules === 'string') return rules
    if (op === 'insert') {
      if (!values || rules.some((rule) => !rule.value)) return null
      for (const value of values) {
        let why: string | null = null
        for (const rule of rules) {
          why = rule.value!(value, this.ctx, path)
          if (why === null) break
        }
        if (why !== null) return `forbidden-write: ${shown} (${why})`
      }
      return null
    }
    if (rules.some((rule) => !rule.owner)) return null
    for (const value of values ?? [undefined]) {
      if (!rules.some((rule) => rule.owner!(value) === this.ctx.user.sub)) return `forbidden-write: ${shown} (not yours to delete)`
    }
    return null
  }

  /** Where Yjs will put `struct`, following origins as Yjs does (Item.getMissing). */
  private resolve(start: NewStruct): Resolved {
    const chain: NewStruct[] = []
    let struct = start
    let result: Resolved | undefined
    for (;;) {
      const known = this.resolved.get(struct)
      if (known !== undefined) {
        result = known
        break
      }
      if (chain.includes(struct)) throw new Unresolvable(`circular origins at ${struct.client}:${struct.clock}`)
      chain.push(struct)
      const left = struct.origin ? this.find(struct.origin) : null
      const right = struct.rightOrigin ? this.find(struct.rightOrigin) : null
      if (isGc(left) || isGc(right)) {
        result = NO_EFFECT
        break
      }
      if (struct.parent === null) {
        const neighbour = left ?? right
        if (neighbour === null) throw new Unresolvable(`struct ${struct.client}:${struct.clock} has no parent`)
        if (neighbour instanceof Y.Item) {
          result = { parent: { type: neighbour.parent as Y.AbstractType<any> }, sub: neighbour.parentSub }
          break
        }
        struct = neighbour as NewStruct
        continue
      }
      if (typeof struct.parent === 'string') {
        result = { parent: { root: struct.parent }, sub: struct.parentSub }
        break
      }
      const parentItem = this.find(struct.parent)
      if (isGc(parentItem)) {
        result = NO_EFFECT
        break
      }
      if (parentItem instanceof Y.Item) {
        if (!(parentItem.content instanceof Y.ContentType)) throw new Unresolvable(`parent ${struct.parent.client}:${struct.parent.clock} is not a type`)
        result = { parent: { type: parentItem.content.type }, sub: struct.parentSub }
        break
      }
      const created = parentItem as NewStruct
      if (created.content !== TYPE) throw new Unresolvable(`parent ${struct.parent.client}:${struct.parent.clock} is not a type`)
      result = { parent: { created }, sub: struct.parentSub }
      break
    }
    // Everything on the chain inherits its location from the struct the chain ended at.
    for (const s of chain) {
      if (s.parent === null || s === chain[chain.length - 1]) this.resolved.set(s, result)
    }
    return result
  }

  /** The struct holding `id`: the server's (Item or GC) or one of this update's. */
  private find(id: StructId): Y.Item | Y.GC | NewStruct {
    const store = this.doc.store
    if (id.clock < Y.getState(store, id.client)) {
      const structs = store.clients.get(id.client)!
      return structs[Y.findIndexSS(structs, id.clock)] as Y.Item | Y.GC
    }
    const created = this.decoded.clients.get(id.client)
    if (created) {
      let lo = 0
      let hi = created.length - 1
      while (lo <= hi) {
        const mid = (lo + hi) >> 1
        const s = created[mid]
        if (id.clock < s.clock) hi = mid - 1
        else if (id.clock >= s.clock + s.length) lo = mid + 1
        else return s
      }
    }
    throw new Unresolvable(`unknown item ${id.client}:${id.clock}`)
  }

  private pathOf(struct: NewStruct, location: Location): Path {
    const cached = this.paths.get(struct)
    if (cached) return cached
    const parent = location.parent
    let base: Path
    if ('root' in parent) base = [parent.root]
    else if ('type' in parent) base = this.typePath(parent.type)
    else {
      const created = this.resolve(parent.created)
      if (created === NO_EFFECT) throw new Unresolvable(`parent ${parent.created.client}:${parent.created.clock} has no effect`)
      base = this.pathOf(parent.created, created)
    }
    const path = location.sub === null ? base : [...base, location.sub]
    this.paths.set(struct, path)
    return path
  }

  private serverPath(parent: Y.AbstractType<any>, sub: string | null): Path {
    const base = this.typePath(parent)
    return sub === null ? base : [...base, sub]
  }

  /** The path of a type the server has: its root name, then the map keys down to it. */
  private typePath(type: Y.AbstractType<any>): Path {
    const cached = rootPaths.get(type)
    if (cached) return cached
    const item = type._item
    const path = item === null ? [Y.findRootTypeKey(type)] : this.serverPath(item.parent as Y.AbstractType<any>, item.parentSub)
    rootPaths.set(type, path)
    return path
  }

  private markReplaced(location: Location, sub: string): void {
    const parent = location.parent
    const key = 'root' in parent ? (this.doc.share.get(parent.root) ?? parent.root) : 'type' in parent ? parent.type : undefined
    if (key === undefined) return
    const keys = this.replaced.get(key) ?? new Set<string>()
    keys.add(sub)
    this.replaced.set(key, keys)
  }

  private deletedByUpdate(struct: NewStruct): boolean {
    const last = struct.clock + struct.length - 1
    return this.decoded.deletes.some((d) => d.client === struct.client && d.clock <= last && last < d.clock + d.len)
  }
}

const isGc = (s: Y.Item | Y.GC | NewStruct | null): boolean => s !== null && (s instanceof Y.GC || ('content' in s && s.content === GC))
