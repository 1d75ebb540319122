// Backpressure for a socket over MAX_MESSAGES_PER_SEC: its messages wait their turn instead of
// being refused, and while any waits the socket's reads are paused, so the client's own send
// buffer (and TCP) holds the rest and nothing is lost. Only when the bytes received but not yet
// let through pass MAX_QUEUED_BYTES is the socket closed, with a 4429 close code that the stock
// provider's onClose sees; its unacknowledged changes stay with the client, resent on reconnect.
import { setTimeout as sleep } from 'node:timers/promises'
import * as decoding from 'lib0/decoding'
import { MessageType } from '@hocuspocus/server'
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
  on(event: 'message', listener: (data: Buffer | ArrayBuffer | Buffer[]) => void): unknown
  /** `/y/` frames carry no document address (and never an authentication frame). */
  readonly unaddressed?: true
}

const OPEN = 1

interface SocketState {
  /** Bytes received from the socket and not yet let through (or refused). */
  queued: number
  /** Messages waiting for a token now. */
  waiting: number
}

const byteLength = (data: Buffer | ArrayBuffer | Buffer[]): number =>
  Array.isArray(data) ? data.reduce((sum, part) => sum + part.byteLength, 0) : data.byteLength

/** A provider's authentication frame: Hocuspocus consumes it before any hook, so it never waits here. */
function isAuthFrame(data: Buffer | ArrayBuffer | Buffer[]): boolean {
  if (!(data instanceof Uint8Array)) return false
  try {
    const decoder = decoding.createDecoder(data)
    decoding.readVarString(decoder)
    return decoding.readVarUint(decoder) === MessageType.Auth
  } catch {
    return false
  }
}

export const isPausable = (socket: unknown): socket is PausableSocket =>
  typeof (socket as PausableSocket | undefined)?.pause === 'function' && typeof (socket as PausableSocket).on === 'function'

export class Backlog {
  private readonly ratePerSec: number
  private readonly maxQueuedBytes: number
  private readonly metrics: Metrics
  private readonly buckets: TokenBuckets
  private readonly sockets = new WeakMap<PausableSocket, SocketState>()
  private readonly byKey = new Map<string, PausableSocket>()

  constructor(options: { ratePerSec: number; maxQueuedBytes: number; metrics: Metrics }) {
    this.ratePerSec = options.ratePerSec
    this.maxQueuedBytes = options.maxQueuedBytes
    this.metrics = options.metrics
    this.buckets = new TokenBuckets(options.ratePerSec)
  }

  /**
   * Resolves when the message of `bytes` from `socket` may be handled: at once within the rate,
   * else once a token is free (reads paused meanwhile). Throws a `rate-limited` refusal, after
   * closing the socket with 4429, when the socket has more than the budget waiting.
   */
  async admit(key: string, socket: PausableSocket, bytes: number): Promise<void> {
    const state = this.track(key, socket)
    try {
      if (state.waiting === 0 && this.buckets.take(key)) return
      this.metrics.messagesDelayed.inc()
      this.checkBudget(socket, state)
      state.waiting++
      if (state.waiting === 1) socket.pause()
      try {
        while (!this.buckets.take(key)) {
          await sleep(Math.ceil(1000 / this.ratePerSec))
          if (socket.readyState !== OPEN) throw new Refusal('rate-limited: socket closed while its messages waited', closeCodeFor('rate-limited:'))
          this.checkBudget(socket, state)
        }
      } finally {
        if (--state.waiting === 0 && socket.readyState === OPEN) socket.resume()
      }
    } finally {
      state.queued = Math.max(0, state.queued - bytes)
    }
  }

  /**
   * Forgets a socket's rate once its last document closed; bytes counted for messages Hocuspocus
   * dropped with those documents are forgotten too.
   */
  forget(key: string): void {
    this.buckets.forget(key)
    const socket = this.byKey.get(key)
    this.byKey.delete(key)
    const state = socket && this.sockets.get(socket)
    if (state && state.waiting === 0) state.queued = 0
  }

  /** Starts counting the socket's incoming bytes the first time one of its messages is admitted. */
  private track(key: string, socket: PausableSocket): SocketState {
    this.byKey.set(key, socket)
    let state = this.sockets.get(socket)
    if (!state) {
      const fresh: SocketState = { queued: 0, waiting: 0 }
      socket.on('message', (data) => {
        if (!socket.unaddressed && isAuthFrame(data)) return
        fresh.queued += byteLength(data)
        // Past the budget the socket goes now, not when its turn would come.
        if (fresh.waiting > 0 && fresh.queued > this.maxQueuedBytes) this.close(socket)
      })
      this.sockets.set(socket, (state = fresh))
    }
    return state
  }

  private checkBudget(socket: PausableSocket, state: SocketState): void {
    if (state.queued <= this.maxQueuedBytes) return
    throw this.close(socket)
  }

  private close(socket: PausableSocket): Refusal {
    const reason = `rate-limited: more than ${this.maxQueuedBytes} bytes waiting over ${this.ratePerSec} messages per second`
    const refusal = new Refusal(reason, closeCodeFor(reason))
    if (socket.readyState === OPEN) {
      this.metrics.refuse(reason)
      socket.close(refusal.code, reason)
    }
    return refusal
  }
}
