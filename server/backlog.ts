// Backpressure for a socket over MAX_MESSAGES_PER_SEC: its messages wait their turn instead of
// being refused, and while any waits the socket's reads are paused, so the client's own send
// buffer (and TCP) holds the rest and nothing is lost. Only when the messages received and not
// yet handled pass MAX_QUEUED_BYTES is the socket closed, with a 4429 close code that the stock
// provider's onClose sees; its unacknowledged changes stay with the client, resent on reconnect.
//
// A socket within its rate costs one token bucket and nothing else: the state below exists only
// for sockets that have had to wait.
import { setTimeout as sleep } from 'node:timers/promises'
import type { Connection } from '@hocuspocus/server'
import { Refusal } from './context.ts'
import type { Metrics } from './metrics.ts'
import { TokenBuckets } from './rate.ts'
import { closeCodeFor } from '../docs-model/refusals.ts'

/** What backpressure needs of a socket: the ws WebSocket (through crossws' proxy) or the `/y/` adapter. */
export interface PausableSocket {
  readonly readyState: number
  pause(): void
  resume(): void
  close(code?: number, reason?: string): void
}

const OPEN = 1

/**
 * The messages Hocuspocus holds for one document connection, the one being handled first. A
 * private field of Connection in @hocuspocus/server 4.7 (src/Connection.ts), read, never written:
 * it is exactly what waits, including what arrived after the waiting message.
 */
const held = (connection: Connection): readonly Uint8Array[] => (connection as unknown as { messageQueue?: Uint8Array[] }).messageQueue ?? []

interface Waiting {
  /** Messages waiting for a token now. */
  count: number
  /** The socket's document connections that have messages waiting. */
  connections: Set<Connection>
}

export const isPausable = (socket: unknown): socket is PausableSocket =>
  typeof (socket as PausableSocket | undefined)?.pause === 'function' && typeof (socket as PausableSocket).resume === 'function'

export class Backlog {
  private readonly ratePerSec: number
  private readonly maxQueuedBytes: number
  private readonly metrics: Metrics
  private readonly buckets: TokenBuckets
  private readonly waiting = new WeakMap<PausableSocket, Waiting>()

  constructor(options: { ratePerSec: number; maxQueuedBytes: number; metrics: Metrics }) {
    this.ratePerSec = options.ratePerSec
    this.maxQueuedBytes = options.maxQueuedBytes
    this.metrics = options.metrics
    this.buckets = new TokenBuckets(options.ratePerSec)
  }

  /**
   * Resolves when the message on `connection` may be handled: at once within the rate, else
   * once a token is free (reads paused meanwhile). Throws a `rate-limited` refusal, after
   * closing the socket with 4429, when more than the budget waits on the socket.
   */
  async admit(key: string, socket: PausableSocket, connection: Connection): Promise<void> {
    let state = this.waiting.get(socket)
    if (!state?.count && this.buckets.take(key)) return
    if (!state) this.waiting.set(socket, (state = { count: 0, connections: new Set() }))
    this.metrics.messagesDelayed.inc()
    state.connections.add(connection)
    this.checkBudget(socket, state)
    if (state.count++ === 0) socket.pause()
    try {
      while (!this.buckets.take(key)) {
        await sleep(Math.ceil(1000 / this.ratePerSec))
        if (socket.readyState !== OPEN) throw new Refusal('rate-limited: socket closed while its messages waited', closeCodeFor('rate-limited:'))
        this.checkBudget(socket, state)
      }
    } finally {
      if (--state.count === 0) {
        state.connections.clear()
        if (socket.readyState === OPEN) socket.resume()
      }
    }
  }

  /** Forgets a socket's rate (its last document closed). */
  forget(key: string): void {
    this.buckets.forget(key)
  }

  private checkBudget(socket: PausableSocket, state: Waiting): void {
    let bytes = 0
    for (const connection of state.connections) for (const message of held(connection)) bytes += message.byteLength
    if (bytes <= this.maxQueuedBytes) return
    const reason = `rate-limited: more than ${this.maxQueuedBytes} bytes waiting over ${this.ratePerSec} messages per second`
    const refusal = new Refusal(reason, closeCodeFor(reason))
    if (socket.readyState === OPEN) {
      this.metrics.refuse(reason)
      socket.close(refusal.code, reason)
    }
    throw refusal
  }
}
