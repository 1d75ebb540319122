// The system family: `s/system/status`, the cluster's live figures: totals over the instances
// alive (`now`) and each instance's last heartbeat (`instances`).
import { z } from 'zod'
import { decodeLayout, time } from '../../common.ts'
import { server } from '../../who.ts'
import type { Surface } from '../../types.ts'

const count = z.number().finite().nonnegative()

/** One instance as its heartbeat last reported it (see InstanceStatus in state.ts). */
const instanceStatus = z.object({
  address: z.string().max(300),
  alive: z.boolean(),
  lastHeartbeat: count,
  startedAt: count,
  connections: count,
  documents: count,
  messagesPerSec: count,
})

const systemLayout = {
  now: {
    kind: 'map',
    value: z.union([count, time]),
  },
  instances: { kind: 'map', value: instanceStatus },
} as const

export const systemStatusName = (school: string): string => `${school}/system/status`

/** `s/system/status`: the cluster's live figures, refreshed every few seconds. */
export const systemStatus: Surface = {
  key: 'system',
  pattern: 'system/status',
  layout: systemLayout,
  read: (user) => user.role === 'admin' || user.role === 'director',
  writes: [
    { path: 'now', by: server },
    { path: 'instances', by: server },
  ],
  decode: (d) => decodeLayout(systemLayout, d),
}
