// `s/system/status`: the server's live figures, refreshed every few seconds for each school whose
// status document is loaded (somebody watches it), and only when a figure changed; `at` is the
// time the figures last changed.
import type { Homeroom } from '../../server/homeroom.ts'
import { mapOf } from '../../docs-model/common.ts'
import type { DocRef } from '../../docs-model/types.ts'
import { figuresUnchanged, type SystemFigures } from '../../docs-model/surfaces/system/state.ts'
import { derive, report } from './runtime.ts'
import type { Observer, Visit } from './registry.ts'

export interface SystemStatusOptions {
  /** Refresh period; default 5 s. */
  everyMs?: number
  /** How many instances serve this cluster; one without Redis. */
  instances?: () => number
}

export class SystemStatusObserver implements Observer {
  readonly name = 'system-status'
  readonly surfaces = ['system']
  private readonly app: Homeroom
  private readonly everyMs: number
  private readonly instances: () => number
  private readonly watched = new Set<string>()
  private timer?: NodeJS.Timeout
  private running = false

  constructor(app: Homeroom, options: SystemStatusOptions = {}) {
    this.app = app
    this.everyMs = options.everyMs ?? 5000
    this.instances = options.instances ?? (() => 1)
  }

  loaded(ref: DocRef): void {
    this.watched.add(ref.name)
    this.timer ??= setInterval(() => void this.refreshAll(), this.everyMs).unref()
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
    clearInterval(this.timer)
    this.timer = undefined
  }

  private figures(): SystemFigures {
    return {
      connections: this.app.socketCount(),
      documents: this.app.hocuspocus.getDocumentsCount(),
      messagesPerSec: this.app.metrics.messageRate(),
      instances: this.instances(),
    }
  }

  private async refreshAll(): Promise<void> {
    if (this.running) return
    this.running = true
    try {
      const figures = this.figures()
      for (const name of this.watched) {
        try {
          await this.refresh(name, figures)
        } catch (error) {
          report(this.app, this.name, error, name)
        }
      }
    } finally {
      this.running = false
    }
  }

  private async refresh(name: string, figures: SystemFigures): Promise<void> {
    const live = this.app.hocuspocus.documents.get(name)
    // Only while a client holds it: writing would otherwise load it again.
    if (!live || live.getConnections().length === 0 || figuresUnchanged(mapOf(live, 'now'), figures)) return
    await derive(this.app, this.name, name, (doc) => {
      const now = doc.getMap('now')
      if (figuresUnchanged(now, figures)) return
      for (const [key, value] of Object.entries(figures)) if (now.get(key) !== value) now.set(key, value)
      now.set('at', this.app.clock.now())
    })
  }
}
