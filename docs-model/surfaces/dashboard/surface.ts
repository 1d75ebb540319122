import { boundedJson, decodeLayout, MAX_OPEN_JSON_CHARS } from '../../common.ts'
import { roles } from '../../who.ts'
import type { Surface } from '../../types.ts'

/** The contract leaves the keys and values of `data` open (anything JSON); each value is bounded as a whole. */
const dashboardLayout = { data: { kind: 'map', value: boundedJson(MAX_OPEN_JSON_CHARS) } } as const

/** `s/dashboard/<name>`: any JSON a back end pushes (attendance, grades) for staff to watch live. */
export const dashboard: Surface = {
  key: 'dashboard',
  pattern: 'dashboard/:name',
  layout: dashboardLayout,
  read: (user) => ['teacher', 'admin', 'director', 'service'].includes(user.role),
  writes: [{ path: 'data', by: roles('service', 'admin') }],
  decode: (d) => decodeLayout(dashboardLayout, d),
}
