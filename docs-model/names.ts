// Parsing document names into a surface and its parameters, with precise refusals.
import type { DocRef, Surface } from './types.ts'
import * as map from 'lib0/map'

export const SEGMENT = /^[A-Za-z0-9_-]{1,64}$/

export class NameError extends Error {
  readonly code: 'bad-name' | 'unknown-surface'
  /** Hocuspocus sends `reason` to the provider as the authentication failure. */
  readonly reason: string
  constructor(code: 'bad-name' | 'unknown-surface', detail: string) {
    super(`${code}: ${detail}`)
    this.code = code
    this.reason = this.message
  }
}

interface CompiledPattern {
  surface: Surface
  parts: Array<{ literal: string } | { param: string }>
}

/** Matches names against the registered surfaces' patterns. */
export class NameParser {
  private readonly byWord = new Map<string, CompiledPattern[]>()

  constructor(surfaces: readonly Surface[]) {
    for (const surface of surfaces) {
      const parts = surface.pattern.split('/').map((p) => (p.startsWith(':') ? { param: p.slice(1) } : { literal: p }))
      const word = (parts[0] as { literal: string }).literal
      map.setIfUndefined(this.byWord, word, () => [] as CompiledPattern[]).push({ surface, parts })
    }
  }

  parse(name: string): { ref: DocRef; surface: Surface } {
    if (typeof name !== 'string' || name.length === 0 || name.length > 400) throw new NameError('bad-name', 'empty or too long')
    const segments = name.split('/')
    if (segments.length < 3) throw new NameError('bad-name', `'${name}' must look like <school>/<surface>/<id>`)
    segments.forEach((segment, i) => {
      if (!SEGMENT.test(segment) && !isPairSegment(segment)) {
        throw new NameError('bad-name', `segment ${i + 1} '${segment.slice(0, 70)}' must match [A-Za-z0-9_-]{1,64}`)
      }
    })
    const [school, word, ...rest] = segments
    const candidates = this.byWord.get(word)
    if (!candidates) throw new NameError('unknown-surface', `'${word}'`)
    for (const { surface, parts } of candidates) {
      if (parts.length !== rest.length + 1) continue
      const params: Record<string, string> = {}
      const matches = parts.slice(1).every((part, i) => {
        if ('literal' in part) return part.literal === rest[i]
        params[part.param] = rest[i]
        return true
      })
      if (!matches) continue
      for (const [key, value] of Object.entries(params)) {
        const ok = key === 'pair' ? isPairSegment(value) : SEGMENT.test(value)
        if (!ok) throw new NameError('bad-name', `'${value}' is not a valid ${key}`)
      }
      return { ref: { name, school, surface: surface.key, params }, surface }
    }
    const known = candidates.map((c) => c.surface.pattern).join(', ')
    throw new NameError('unknown-surface', `'${segments.slice(1).join('/')}' fits none of ${known}`)
  }
}

/** A direct-message pair `<userA>~<userB>`: two distinct valid user ids. */
export function isPairSegment(segment: string): boolean {
  const users = segment.split('~')
  return users.length === 2 && users.every((u) => SEGMENT.test(u)) && users[0] !== users[1]
}
