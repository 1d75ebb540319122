// Refusal reasons and close codes: one table for every place that refuses (opening, the write
// guard, limits), the `/y/` endpoint, and the client deciding what a refusal means for its copy.
// A reason starts with a word and a colon (`forbidden-write: ballot/choice`); docs/api.md lists them.

/** Close codes by the reason's first word. */
export const CLOSE_CODES: Readonly<Record<string, number>> = {
  'bad-name': 4400,
  'bad-message': 4400,
  unauthenticated: 4401,
  forbidden: 4403,
  'forbidden-write': 4403,
  'unknown-surface': 4404,
  frozen: 4409,
  'too-large': 4413,
  'rate-limited': 4429,
  limit: 4429,
  full: 4429,
}

/** Anything else (restart, idle timeout, storage briefly down) is transient: the client reconnects. */
export const TRANSIENT_CLOSE = 4500

/** An opening the server could not check (its store away): passing, the client opens again shortly. */
export const OPENING_UNAVAILABLE = 'unavailable: the server could not check this opening, try again shortly'

/** Over the opening rate: a `forbidden` by its first word (the contract's opening reasons), but a limit like the others. */
export const OPENING_RATE_REASON = 'forbidden: too many opening attempts, retry in a moment'

const firstWord = (reason: string): string | undefined => /^([a-z-]+)(:|$)/.exec(reason)?.[1]

export function closeCodeFor(reason: string): number {
  if (reason.startsWith(OPENING_RATE_REASON)) return 4429
  const word = firstWord(reason)
  return (word && CLOSE_CODES[word]) || TRANSIENT_CLOSE
}

/** An opening refusal that denies access for good (not an expired token, a limit or the opening rate). */
export function deniesAccess(reason: string): boolean {
  const word = firstWord(reason)
  return (word === 'forbidden' || word === 'bad-name' || word === 'unknown-surface') && !reason.startsWith(OPENING_RATE_REASON)
}

/**
 * A write to a root the surface does not have, naming the roots it has, so that an editor bound
 * to the wrong field says which one to use: `forbidden-write: default (doc/:id has body, comments, meta)`.
 */
export const unknownRootReason = (path: string, surface: { pattern: string; layout: object }): string =>
  `forbidden-write: ${path} (${surface.pattern} has ${Object.keys(surface.layout).join(', ')})`

/** The root an unknown-root refusal names, or undefined for any other reason. */
export const unknownRootOf = (reason: string): string | undefined => /^forbidden-write: ([^/\s]+)\S* \(\S+ has [^)]*\)$/.exec(reason)?.[1]
