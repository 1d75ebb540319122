// The dashboard family: `s/dashboard/<name>`, open JSON a back end pushes, and the merge that
// writes it.
import { equalityDeep } from 'lib0/function'
import { boundedJson, decodeLayout, MAX_OPEN_JSON_CHARS } from '../../common.ts'
import { roles } from '../../who.ts'
import type { Surface } from '../../types.ts'
import type * as Y from 'yjs'

export const dashboardName = (school: string, name: string): string => `${school}/dashboard/${name}`

/** The contract leaves the keys and values of `data` open (anything JSON); each value is bounded as a whole. */
const dashboardLayout = { data: { kind: 'map', value: boundedJson(MAX_OPEN_JSON_CHARS), opaque: true } } as const

/** `s/dashboard/<name>`: any JSON a back end pushes (attendance, grades) for staff to watch live. */
export const dashboard: Surface = {
  key: 'dashboard',
  pattern: 'dashboard/:name',
  layout: dashboardLayout,
  read: (user) => ['teacher', 'admin', 'director', 'service'].includes(user.role),
  writes: [{ path: 'data', by: roles('service', 'admin') }],
  decode: (d) => decodeLayout(dashboardLayout, d),
}

/**
 * Merges `patch` key by key into `data` (JSON merge patch: null removes a key); keys whose value
 * is unchanged are not written. Returns the keys that changed.
 */
export function mergeDashboard(doc: Y.Doc, patch: Record<string, unknown>): string[] {
  const data = doc.getMap('data')
  const changed: string[] = []
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) {
      if (!data.has(key)) continue
      data.delete(key)
      changed.push(key)
    } else if (!equalityDeep(data.get(key), value)) {
      data.set(key, value)
      changed.push(key)
    }
  }
  return changed
}
