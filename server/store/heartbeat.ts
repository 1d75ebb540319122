// The running-server heartbeat: a server keeps one row in its store (instance id, address, host,
// pid) and refreshes it every few seconds; it deletes the row when it stops. Commands that write
// straight into the store (`homeroom docs restore/import/repair/compact`) ask the store, not a
// port, whether a server uses it: this finds a server on any port and, with PostgreSQL, on any
// host. A row not refreshed for three of its intervals (a killed server) no longer counts.
import { randomUUID } from 'node:crypto'
import { hostname } from 'node:os'
import type { Logger } from '../log.ts'
import type { HeartbeatStore, ServerBeat, ServerFigures } from './types.ts'

export const HEARTBEAT_INTERVAL_MS = 5000
/** A row counts as a running server while it is younger than this many of its intervals. */
export const STALE_AFTER_INTERVALS = 3

export interface LiveServer extends ServerBeat {
  /** When the row was last refreshed, on this process's clock. */
  seenAt: number
}

export interface Heartbeat {
  readonly id: string
  /** Stops refreshing and deletes the row (a clean stop). */
  stop(): Promise<void>
  /** Stops refreshing and leaves the row to go stale, as a killed server does (tests). */
  halt(): void
}

/**
 * Writes the first beat (resolving once it is stored, or after 2 s), then refreshes it every
 * `intervalMs`, with the server's `figures` when given.
 * A failed refresh is logged once per outage and retried at the next interval.
 */
export async function startHeartbeat(
  store: Partial<HeartbeatStore>,
  server: { instance: string; address: string },
  options: { intervalMs?: number; log?: Logger; figures?: () => ServerFigures } = {},
): Promise<Heartbeat> {
  const intervalMs = options.intervalMs ?? HEARTBEAT_INTERVAL_MS
  const row: ServerBeat = {
    id: randomUUID(),
    instance: server.instance,
    address: server.address,
    host: hostname(),
    pid: process.pid,
    startedAt: Date.now(),
    intervalMs,
  }
  if (!store.beat) return { id: row.id, stop: async () => {}, halt: () => {} }
  let failing = false
  let inFlight: Promise<void> = Promise.resolve()
  const beat = () => {
    // The server's live figures at each beat: `s/system/status` sums them over the cluster.
    if (options.figures) row.figures = options.figures()
    inFlight = store.beat!(row).then(
      () => {
        if (failing) options.log?.info('heartbeat stored again')
        failing = false
      },
      (error) => {
        if (!failing) options.log?.warn({ err: error }, 'cannot store the heartbeat; admin commands may not see this server running')
        failing = true
      },
    )
    return inFlight
  }
  // Starting does not wait long for a store that is unreachable now: the refreshes retry.
  await Promise.race([beat(), new Promise((resolve) => setTimeout(resolve, 2000).unref())])
  const timer = setInterval(beat, intervalMs)
  timer.unref()
  let stopped = false
  return {
    id: row.id,
    halt: () => {
      stopped = true
      clearInterval(timer)
    },
    async stop() {
      if (stopped) return
      stopped = true
      clearInterval(timer)
      await inFlight
      await store.forget?.(row.id).catch((error) => options.log?.warn({ err: error }, 'cannot delete the heartbeat'))
    },
  }
}

/** Servers whose heartbeat is fresh (younger than three of their intervals), newest first. */
export async function liveServers(store: Partial<HeartbeatStore>): Promise<LiveServer[]> {
  if (!store.servers) return []
  const now = Date.now()
  return (await store.servers())
    .filter((s) => s.ageMs <= STALE_AFTER_INTERVALS * s.intervalMs)
    .sort((a, b) => a.ageMs - b.ageMs)
    .map(({ ageMs, seenAt: _storeSeenAt, ...s }) => ({ ...s, seenAt: now - ageMs }))
}
