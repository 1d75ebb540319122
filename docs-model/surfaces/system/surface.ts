// The system family: `s/system/status`, the server's own live figures.
import { z } from 'zod'
import { decodeLayout, time } from '../../common.ts'
import { server } from '../../who.ts'
import type { Surface } from '../../types.ts'

const systemLayout = {
  now: {
    kind: 'map',
    value: z.union([z.number().finite().nonnegative(), time]),
  },
} as const

export const systemStatusName = (school: string): string => `${school}/system/status`

/** `s/system/status`: the server's own live figures, refreshed every few seconds. */
export const systemStatus: Surface = {
  key: 'system',
  pattern: 'system/status',
  layout: systemLayout,
  read: (user) => user.role === 'admin' || user.role === 'director',
  writes: [{ path: 'now', by: server }],
  decode: (d) => decodeLayout(systemLayout, d),
}
