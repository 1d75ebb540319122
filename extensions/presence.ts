// Presence (awareness) a client cannot forge: every state's `user` is overwritten with the
// identity from the token, a connection may only speak for the awareness clients it
// introduced, a state has a size cap, and each connection has a rate cap (updates over it
// are dropped; the client's next update, at the latest its 15 s heartbeat, carries the state again).
import client from 'prom-client'
import type { beforeHandleAwarenessPayload, Connection, Document, Extension } from '@hocuspocus/server'
import { contextOf, Refusal } from '../server/context.ts'
import type { Config } from '../server/config.ts'
import type { Metrics } from '../server/metrics.ts'

export interface PresenceConfig {
  limits: Pick<Config['limits'], 'awarenessBytes' | 'awarenessPerSec'>
  metrics: Metrics
}

interface Window {
  startedAt: number
  count: number
}

export class Presence implements Extension {
  readonly extensionName = 'presence'
  private readonly config: PresenceConfig
  private readonly windows = new WeakMap<Connection, Window>()
  /** Per document, the connection that introduced each awareness client (O(1) per state, also with hundreds of viewers). */
  private readonly owners = new WeakMap<Document, Map<number, Connection>>()
  private readonly dropped: client.Counter

  constructor(config: PresenceConfig) {
    this.config = config
    this.dropped = new client.Counter({
      name: 'homeroom_awareness_dropped_total',
      help: 'Awareness states dropped: over the rate cap, or naming a client another connection owns',
      labelNames: ['reason'],
      registers: [config.metrics.registry],
    })
  }

  async beforeHandleAwareness({ states, context, connection, document }: beforeHandleAwarenessPayload): Promise<void> {
    if (!connection) return // from Redis or the server: already stamped where it entered
    const ctx = contextOf(context)
    if (!ctx) {
      states.clear()
      return
    }
    if (!this.admit(connection)) {
      this.dropped.inc({ reason: 'rate' }, states.size)
      states.clear()
      return
    }
    const user = { id: ctx.user.sub, name: ctx.user.name, role: ctx.user.role }
    let owners = this.owners.get(document)
    if (!owners) this.owners.set(document, (owners = new Map()))
    for (const [clientId, state] of states) {
      const owner = owners.get(clientId)
      if (owner && owner !== connection && document.hasConnection(owner)) {
        this.dropped.inc({ reason: 'foreign-client' })
        states.delete(clientId)
        continue
      }
      owners.set(clientId, connection)
      state.user = user
      const bytes = JSON.stringify(state).length
      if (bytes > this.config.limits.awarenessBytes) {
        this.config.metrics.refuse('too-large')
        throw new Refusal(`too-large: awareness state of ${bytes} bytes exceeds ${this.config.limits.awarenessBytes}`, 4413)
      }
    }
  }

  /** A fixed one-second window per connection. */
  private admit(connection: Connection): boolean {
    const now = Date.now()
    let window = this.windows.get(connection)
    if (!window || now - window.startedAt >= 1000) {
      window = { startedAt: now, count: 0 }
      this.windows.set(connection, window)
    }
    window.count++
    return window.count <= this.config.limits.awarenessPerSec
  }
}
