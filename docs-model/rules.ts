// Who may open a document, and matching changed paths against a surface's write rules. The server's guard and the
// clients' helpers both decide with these functions, so they never disagree.
import * as Y from 'yjs'
import { resolve } from './registry.ts'
import { NO_FACTS, type DocRef, type Facts, type Identity, type Op, type ReadDecision, type ServerTime, type Surface, type WriteContext, type WriteRule } from './types.ts'
import { record, toMillis } from './common.ts'

export type Path = readonly string[]

/** Admins and directors may read every document of their schools, whatever the surface declares. */
export const readsWholeSchool = (user: Identity): boolean => user.role === 'admin' || user.role === 'director'

/**
 * May `user` open `ref`, from the token and the name alone: true, false, or `content` (decide
 * with `surface.readContent` on the document). School membership is checked apart (`belongsTo`),
 * so that refusal can say so.
 */
export function readDecision(surface: Surface, user: Identity, ref: DocRef): ReadDecision {
  if (readsWholeSchool(user)) return true
  return declaredRead(surface, user, ref)
}

/** The surface's own readers, without the school-wide grant: who a surface is for (the playground's panels). */
export function declaredRead(surface: Surface, user: Identity, ref: DocRef): ReadDecision {
  const decision = surface.read(user, ref)
  return decision === 'content' && !surface.readContent ? false : decision
}

export function splitPath(path: string | Path): Path {
  return typeof path === 'string' ? path.split('/').filter(Boolean) : path
}

function segmentMatches(pattern: string, segment: string, ctx: WriteContext): boolean {
  if (pattern === '*') return true
  if (pattern === '$self') return segment === ctx.user.sub
  if (pattern === '$self:*') return segment.startsWith(`${ctx.user.sub}:`)
  if (pattern.startsWith('$')) return segment === ctx.ref.params[pattern.slice(1)]
  return pattern === segment
}

const patterns = new WeakMap<WriteRule, Path>()

function patternOf(rule: WriteRule): Path {
  let pattern = patterns.get(rule)
  if (!pattern) patterns.set(rule, (pattern = splitPath(rule.path)))
  return pattern
}

/** True when the rule's path covers `path` (the rule's path is a prefix of it). */
export function ruleCovers(rule: WriteRule, path: Path, ctx: WriteContext): boolean {
  const pattern = patternOf(rule)
  if (pattern.length > path.length) return false
  for (let i = 0; i < pattern.length; i++) if (!segmentMatches(pattern[i], path[i], ctx)) return false
  return true
}

/**
 * One writer's view of a surface's rules while the document does not change: `by` and `frozen`
 * are evaluated once per rule, so checking many paths (an update with many changes) stays cheap.
 */
export class RuleBook {
  private readonly surface: Surface
  private readonly ctx: WriteContext
  private readonly by = new Map<WriteRule, boolean>()
  private readonly freezes = new Map<WriteRule, string | null>()

  constructor(surface: Surface, ctx: WriteContext) {
    this.surface = surface
    this.ctx = ctx
  }

  /** The rules that let this writer perform `op` at `path`, ignoring values and freezes. */
  granting(path: Path, op: Op): WriteRule[] {
    const granting: WriteRule[] = []
    for (const rule of this.surface.writes) {
      if (rule.ops && !rule.ops.includes(op)) continue
      if (!ruleCovers(rule, path, this.ctx)) continue
      let allowed = this.by.get(rule)
      if (allowed === undefined) this.by.set(rule, (allowed = rule.by(this.ctx)))
      if (allowed) granting.push(rule)
    }
    return granting
  }

  /** Why writes under `rule` are frozen right now, or null. */
  frozen(rule: WriteRule): string | null {
    if (!rule.frozen) return null
    let reason = this.freezes.get(rule)
    if (reason === undefined) this.freezes.set(rule, (reason = rule.frozen(this.ctx)))
    return reason
  }
}

/** The rules that let this writer perform `op` at `path`, ignoring values and freezes. */
export function grantingRules(surface: Surface, path: Path, op: Op, ctx: WriteContext): WriteRule[] {
  return new RuleBook(surface, ctx).granting(path, op)
}

export function writeContext(user: Identity, ref: DocRef, doc: Y.Doc = new Y.Doc(), facts: Facts = NO_FACTS, time?: ServerTime): WriteContext {
  return time ? { user, ref, doc, facts, time } : { user, ref, doc, facts }
}

/**
 * Time is the server's: a value written at `path` carries a client time when it has an `at` field,
 * or when `path` ends in the key `at`. That time must be within the window around the server's
 * clock (an unreadable time is outside every window). Returns the refusal, or null.
 */
export function clockSkew(path: Path, value: unknown, time: ServerTime): string | null {
  const atKey = path[path.length - 1] === 'at'
  const at = atKey ? value : record(value)?.at
  if (at === undefined) return null
  const ms = toMillis(at)
  if (ms !== undefined && Math.abs(ms - time.now()) <= time.skewMs) return null
  return `forbidden-write: ${[...path, ...(atKey ? [] : ['at'])].join('/')} (clock skew)`
}

/**
 * May this user write at `path` (for example `ballot/choice` or `comments/u1:c9`)?
 * The client helpers call this before sending; the guard additionally checks values,
 * ownership of deleted values and freezes.
 */
export function canWrite(surface: Surface, path: string | Path, ctx: WriteContext, op: Op = 'insert'): boolean {
  return grantingRules(surface, splitPath(path), op, ctx).some((rule) => !rule.frozen?.(ctx))
}

/**
 * For clients: may `user` write at `path` of the document `name`, given their synced copy `doc`?
 * The same rules the server's guard applies; a path refused here is refused there.
 */
export function userCanWrite(name: string, path: string | Path, user: Identity, doc?: Y.Doc, op: Op = 'insert'): boolean {
  const { ref, surface } = resolve(name)
  return canWrite(surface, path, writeContext(user, ref, doc), op)
}

/** Whether any rule could ever let this user write; if not, the connection is read-only. */
export function mayWriteAnything(surface: Surface, user: Identity, ref: DocRef): boolean {
  const ctx = writeContext(user, ref)
  return surface.writes.some((rule) => rule.by(ctx))
}
