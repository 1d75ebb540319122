// Matching changed paths against a surface's write rules. The server's guard and the
// clients' helpers both decide with these functions, so they never disagree.
import * as Y from 'yjs'
import { NO_FACTS, type DocRef, type Facts, type Identity, type Op, type Surface, type WriteContext, type WriteRule } from './types.ts'

export type Path = readonly string[]

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

/** True when the rule's path covers `path` (the rule's path is a prefix of it). */
export function ruleCovers(rule: WriteRule, path: Path, ctx: WriteContext): boolean {
  const pattern = splitPath(rule.path)
  if (pattern.length > path.length) return false
  return pattern.every((p, i) => segmentMatches(p, path[i], ctx))
}

/** The rules that let this writer perform `op` at `path`, ignoring values and freezes. */
export function grantingRules(surface: Surface, path: Path, op: Op, ctx: WriteContext): WriteRule[] {
  return surface.writes.filter((rule) => (rule.ops ?? ['insert', 'delete']).includes(op) && ruleCovers(rule, path, ctx) && rule.by(ctx))
}

export function writeContext(user: Identity, ref: DocRef, doc: Y.Doc = new Y.Doc(), facts: Facts = NO_FACTS): WriteContext {
  return { user, ref, doc, facts }
}

/**
 * May this user write at `path` (for example `ballot/choice` or `comments/u1:c9`)?
 * The client helpers call this before sending; the guard additionally checks values,
 * ownership of deleted values and freezes.
 */
export function canWrite(surface: Surface, path: string | Path, ctx: WriteContext, op: Op = 'insert'): boolean {
  return grantingRules(surface, splitPath(path), op, ctx).some((rule) => !rule.frozen?.(ctx))
}

/** Whether any rule could ever let this user write; if not, the connection is read-only. */
export function mayWriteAnything(surface: Surface, user: Identity, ref: DocRef): boolean {
  const ctx = writeContext(user, ref)
  return surface.writes.some((rule) => rule.by(ctx))
}
