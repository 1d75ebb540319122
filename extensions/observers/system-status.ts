// `s/system/status`: the cluster's live figures, refreshed every few seconds for each school whose
// status document is loaded (somebody watches it), and only when a figure changed. They come from
// the heartbeat rows every server keeps in the shared store (server/store/heartbeat.ts, with
// its figures): `now` sums connections, documents and messages per second over the instances
// alive and counts them, `instances` shows each instance's last heartbeat (also of one that
// stopped beating, for a while, as not alive). Every instance computes the same from the same
// rows, so whichever writes (one at a time, writer-lease.ts) the others find nothing to change.
// A server without heartbeats (started in-process) shows its own figures. `at` is the time the
// totals last changed.
import type * as Y from 'yjs'
import type { Homeroom } from '../../server/homeroom.ts'
import type { Timer } from '../../server/clock.ts'
import { STALE_AFTER_INTERVALS } from '../../server/store/heartbeat.ts'
import { mapOf } from '../../docs-model/common.ts'
import type { DocRef } from '../../docs-model/types.ts'
import { figuresUnchanged, type InstanceStatus, type SystemFigures } from '../../docs-model/surfaces/system/state.ts'
import { derive, report, sameJson } from './runtime.ts'
import type { Observer, Visit } from './registry.ts'

/** An instance whose heartbeat stopped is shown (not alive) this long, then left out. */
const SHOWN_AFTER_DEATH_MS = 10 * 60 * 1000

export interface SystemStatusOptions {
  /** Refresh period; default 5 s. */
  everyMs?: number
}

export interface ClusterStatus {
  figures: SystemFigures
  instances: Record<string, InstanceStatus>
}

export class SystemStatusObserver implements Observer {
  readonly name = 'system-status'
  readonly surfaces = ['system']
  private readonly app: Homeroom
  private readonly everyMs: number
  private readonly watched = new Set<string>()
  private timer?: Timer
  private running = false

  constructor(app: Homeroom, options: SystemStatusOptions = {}) {
    this.app = app
    this.everyMs = options.everyMs ?? 5000
  }

  loaded(ref: DocRef): void {
    this.watched.add(ref.name)
    if (!this.timer) this.tick()
  }

  /** Refreshes every `everyMs` on the server's clock (a test's clock moves it by hand) while a status document is loaded. */
  private tick(): void {
    this.timer = this.app.clock.setTimeout(() => {
      void this.refreshAll()
      this.tick()
    }, this.everyMs)
    this.timer.unref()
  }

  /** A watcher arrived: fresh figures at once rather than at the next tick. */
  connected({ ref }: Visit): void {
    if (this.watched.has(ref.name)) setImmediate(() => void this.refreshAll())
  }

  unloaded(ref: DocRef): void {
    this.watched.delete(ref.name)
    if (this.watched.size === 0) this.stopTimer()
  }

  stop(): void {
    this.watched.clear()
    this.stopTimer()
  }

  private stopTimer(): void {
    this.app.clock.clearTimeout(this.timer)
    this.timer = undefined
  }

  /** This process alone, for a server that keeps no heartbeat. */
  private ownFigures(): SystemFigures {
    return {
      connections: this.app.socketCount(),
      documents: this.app.hocuspocus.getDocumentsCount(),
      messagesPerSec: this.app.metrics.messageRate(),
      instances: 1,
    }
  }

  private async status(): Promise<ClusterStatus> {
    const rows = (await this.app.store.servers?.()) ?? []
    const status = clusterStatus(rows)
    return status.figures.instances > 0 ? status : { figures: this.ownFigures(), instances: status.instances }
  }

  private async refreshAll(): Promise<void> {
    if (this.running) return
    this.running = true
    try {
      const status = await this.status()
      for (const name of this.watched) {
        try {
          await this.refresh(name, status)
        } catch (error) {
          report(this.app, this.name, error, name)
        }
      }
    } catch (error) {
      report(this.app, this.name, error)
    } finally {
      this.running = false
    }
  }

  private async refresh(name: string, status: ClusterStatus): Promise<void> {
    const live = this.app.hocuspocus.documents.get(name)
    // Only while a client holds it: writing would otherwise load it again.
    if (!live || live.getConnections().length === 0 || unchanged(live, status)) return
    await derive(this.app, this.name, name, (doc) => {
      const now = doc.getMap('now')
      if (!figuresUnchanged(now, status.figures)) {
        for (const [key, value] of Object.entries(status.figures)) if (now.get(key) !== value) now.set(key, value)
        now.set('at', this.app.clock.now())
      }
      const instances = doc.getMap('instances')
      for (const [id, entry] of Object.entries(status.instances)) if (!sameJson(instances.get(id), entry)) instances.set(id, entry)
      for (const id of [...instances.keys()]) if (!(id in status.instances)) instances.delete(id)
    })
  }
}

function unchanged(doc: Y.Doc, status: ClusterStatus): boolean {
  return figuresUnchanged(mapOf(doc, 'now'), status.figures) && sameJson(mapOf(doc, 'instances').toJSON(), status.instances)
}

type HeartbeatRow = NonNullable<Awaited<ReturnType<NonNullable<Homeroom['store']['servers']>>>>[number]

/** The cluster from its heartbeat rows: the freshest row per INSTANCE_ID, totals over those alive. */
export function clusterStatus(rows: readonly HeartbeatRow[]): ClusterStatus {
  const freshest = new Map<string, HeartbeatRow>()
  for (const row of [...rows].sort((a, b) => a.ageMs - b.ageMs)) {
    if (row.ageMs <= SHOWN_AFTER_DEATH_MS && !freshest.has(row.instance)) freshest.set(row.instance, row)
  }
  const figures: SystemFigures = { connections: 0, documents: 0, messagesPerSec: 0, instances: 0 }
  const instances: Record<string, InstanceStatus> = {}
  for (const [id, row] of [...freshest].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const alive = row.ageMs <= STALE_AFTER_INTERVALS * row.intervalMs
    const own = { connections: row.figures?.connections ?? 0, documents: row.figures?.documents ?? 0, messagesPerSec: row.figures?.messagesPerSec ?? 0 }
    instances[id] = { address: row.address, alive, lastHeartbeat: row.seenAt, startedAt: row.startedAt, ...own }
    if (!alive) continue
    figures.instances++
    figures.connections += own.connections
    figures.documents += own.documents
    figures.messagesPerSec = Math.round((figures.messagesPerSec + own.messagesPerSec) * 10) / 10
  }
  return { figures, instances }
}
