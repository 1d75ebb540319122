// What the emergency family decides: whether a broadcast can be acted on, whom it targets, and
// when the next escalation is due and at which level. Pure: the server's emergency observer
// runs these; the deadline is derived from `status`, so it survives restarts.
import type * as Y from 'yjs'
import { finiteNumber, mapOf } from '../../common.ts'
import { emergencyBroadcast, emergencyCleared, LEVELS, type Broadcast, type Cleared, type Level } from './surface.ts'

/** The broadcast of an emergency document, or undefined while it is absent or malformed. */
export function broadcastOf(doc: Y.Doc): Broadcast | undefined {
  const parsed = emergencyBroadcast.safeParse(mapOf(doc, 'broadcast').toJSON())
  return parsed.success ? parsed.data : undefined
}

/** Who ended the emergency and when, or undefined while it runs (or `cleared` is malformed). */
export function clearedOf(doc: Y.Doc): Cleared | undefined {
  const parsed = emergencyCleared.safeParse(mapOf(doc, 'cleared').toJSON())
  return parsed.success ? parsed.data : undefined
}

export const raiseLevel = (level: Level): Level => LEVELS[Math.min(LEVELS.indexOf(level) + 1, LEVELS.length - 1)]

/** Roster members a broadcast targets. */
export const targetsOf = <M extends { role: string }>(roster: readonly M[], broadcast: Broadcast): M[] =>
  roster.filter((m) => (broadcast.targetRoles as readonly string[]).includes(m.role))

/** How many escalations `status` records so far. */
export const escalationsOf = (status: Y.Map<unknown>): number => finiteNumber(status.get('escalations')) ?? 0

/**
 * When the next escalation is due: `escalateAfterS` after the last one (or the start), while
 * `missing` users have not acknowledged and fewer than `maxEscalations` happened; else undefined.
 */
export function nextEscalationAt(status: Y.Map<unknown>, missing: number, rules: { escalateAfterS: number; maxEscalations: number }): number | undefined {
  const since = finiteNumber(status.get('escalatedAt')) ?? finiteNumber(status.get('startedAt'))
  if (missing <= 0 || since === undefined || escalationsOf(status) >= rules.maxEscalations) return undefined
  return since + rules.escalateAfterS * 1000
}
