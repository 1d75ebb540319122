// Stateless messages carry exactly one thing: screen-share signaling on boards. A message
// `{type: "offer"|"answer"|"ice", to, payload}` on `s/board/<id>` is relayed only to the
// addressed user's connections on that same board, with `from` set to the sender's id: those
// on this instance directly, those on the others through Redis (extensions/redis: a Signal
// frame on the board's channel, which each instance holding the board relays to the
// addressee's connections it has). Everything else is dropped and counted; nothing here may
// throw (Hocuspocus does not await it).
import client from 'prom-client'
import type { Document, Extension, onStatelessPayload } from '@hocuspocus/server'
import { z } from 'zod'
import { contextOf } from '../server/context.ts'
import type { Metrics } from '../server/metrics.ts'
import type { Logger } from '../server/log.ts'
import { EXTENSION_PRIORITY } from './priorities.ts'

/** An SDP offer is a few kilobytes; anything far larger is not signaling. */
export const MAX_SIGNAL_BYTES = 64 * 1024

const signal = z.object({
  type: z.enum(['offer', 'answer', 'ice']),
  to: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/),
  payload: z.unknown(),
})

/** The other instances, when there are any (extensions/redis/sync.ts). */
export interface SignalPeers {
  signal(documentName: string, to: string, message: string): Promise<void>
  onSignal(handler: (document: Document, to: string, message: string) => void): void
}

export interface SignalingConfig {
  metrics: Metrics
  log: Logger
  peers?: SignalPeers
}

type Connections = ReturnType<Document['getConnections']>

export class Signaling implements Extension {
  readonly extensionName = 'signaling'
  readonly priority = EXTENSION_PRIORITY.signaling
  private readonly config: SignalingConfig
  private readonly relayed: client.Counter
  private readonly dropped: client.Counter

  constructor(config: SignalingConfig) {
    this.config = config
    this.relayed = new client.Counter({ name: 'homeroom_signals_relayed_total', help: 'Screen-share signaling messages relayed', registers: [config.metrics.registry] })
    this.dropped = new client.Counter({
      name: 'homeroom_stateless_dropped_total',
      help: 'Stateless messages dropped, by reason',
      labelNames: ['reason'],
      registers: [config.metrics.registry],
    })
    config.peers?.onSignal((document, to, message) => {
      if (deliver(document.getConnections(), to, message) > 0) this.relayed.inc()
    })
  }

  async onStateless({ connection, document, payload }: onStatelessPayload): Promise<void> {
    try {
      const reason = this.relay(connection.context, document, payload)
      if (reason) this.dropped.inc({ reason })
      else this.relayed.inc()
    } catch (error) {
      this.config.metrics.observerErrors.inc({ where: 'signaling' })
      this.config.log.error({ err: error, doc: document.name }, 'signaling relay failed')
    }
  }

  /** Relays one message; returns why it was dropped, or null. */
  private relay(context: unknown, document: Document, payload: string): string | null {
    const sender = contextOf(context)
    if (!sender) return 'unauthenticated'
    if (sender.surface.key !== 'board') return 'not-a-board'
    if (payload.length > MAX_SIGNAL_BYTES) return 'too-large'
    let message: z.infer<typeof signal>
    try {
      const parsed = signal.safeParse(JSON.parse(payload))
      if (!parsed.success) return 'not-signaling'
      message = parsed.data
    } catch {
      return 'not-json'
    }
    const out = JSON.stringify({ type: message.type, to: message.to, from: sender.user.sub, payload: message.payload })
    const delivered = deliver(document.getConnections(), message.to, out)
    // The addressee may be on another instance; only without any can "nobody" be known here.
    const { peers } = this.config
    if (peers) void peers.signal(document.name, message.to, out)
    return delivered > 0 || peers ? null : 'no-recipient'
  }
}

/** Sends `message` to every connection of user `to` among `connections`; returns how many. */
function deliver(connections: Connections, to: string, message: string): number {
  let delivered = 0
  for (const connection of connections) {
    if (contextOf(connection.context)?.user.sub !== to) continue
    connection.sendStateless(message)
    delivered++
  }
  return delivered
}
