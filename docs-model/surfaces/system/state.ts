// The figures `s/system/status` shows: `now` holds the cluster's totals (plus `at`: when they
// last changed), `instances` each instance's last heartbeat, keyed by INSTANCE_ID; and whether
// the document already holds them, so the server writes only when one changed.

/** Totals over the instances alive; `instances` counts them. */
export type SystemFigures = { connections: number; documents: number; messagesPerSec: number; instances: number }

/** One instance: its figures at its last heartbeat (ms since the epoch, by the store's clock), alive while that is recent. */
export type InstanceStatus = { address: string; alive: boolean; lastHeartbeat: number; startedAt: number; connections: number; documents: number; messagesPerSec: number }

export function figuresUnchanged(now: { get(key: string): unknown }, figures: SystemFigures): boolean {
  return Object.entries(figures).every(([key, value]) => now.get(key) === value)
}
