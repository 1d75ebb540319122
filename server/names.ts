// A set of names kept as the name itself while there is one: nearly every socket opens one
// document, and a Set costs about 170 bytes more than the string it would hold.
export type Names = string | Set<string>

export const hasName = (names: Names | undefined, name: string): boolean => (typeof names === 'string' ? names === name : names?.has(name) ?? false)

export const nameCount = (names: Names | undefined): number => (typeof names === 'string' ? 1 : names?.size ?? 0)

/** `names` with `name` added (the same Set, grown, once there are several). */
export function withName(names: Names | undefined, name: string): Names {
  if (names === undefined || names === name) return name
  if (typeof names === 'string') return new Set([names, name])
  return names.add(name)
}

/** `names` without `name`; undefined once none is left. */
export function withoutName(names: Names | undefined, name: string): Names | undefined {
  if (typeof names === 'string') return names === name ? undefined : names
  names?.delete(name)
  return names?.size ? names : undefined
}
