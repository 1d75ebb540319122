// WebSocket keepalive: WS_PING_INTERVAL_MS and WS_PING_TIMEOUT_MS.
//
// Hocuspocus 4 has one knob, `timeout`: every `timeout` ms each connection checks whether a
// message arrived within the last `timeout` ms and closes itself (4408) if not; before its
// first document authenticates, the deadline counts from the socket's opening instead. The
// server sends no pings of its own (providers answer application-level pings, but the server
// takes their pong for a malformed frame), and WebSocket pongs do not count as messages.
// Underneath, crossws (the WebSocket layer of Hocuspocus' Server) pings every socket every 30 s
// and terminates one that answered nothing since the previous round; Hocuspocus offers no way
// to change that.
//
// Homeroom passes WS_PING_TIMEOUT_MS as `timeout` and adds the interval here: every
// WS_PING_INTERVAL_MS each WebSocket gets a protocol-level ping (browsers and every WebSocket
// library answer it by themselves, even in a throttled background tab); a pong counts as a sign
// of life for Hocuspocus' idle check too, so a quiet but reachable client stays connected; a
// socket that neither answered nor sent anything for WS_PING_TIMEOUT_MS is terminated (a dead
// peer cannot complete a close handshake), which closes its document connections at once.
//
// Each pong also times the round trip of its ping: `homeroom_connection_rtt_seconds`, and the
// last round trip per socket for `GET /api/v1/stats` (`rttOf`, by the socket's upgrade request).
//
// It covers the sockets Hocuspocus' Server accepts (providers). Sockets handed to Hocuspocus
// through an adapter without `ping` (the y-websocket endpoint) keep Hocuspocus' idle timeout.
//
// Kept small per socket (there may be 10,000 idle ones): the connection's own
// `lastMessageReceivedAt` is the last sign of life (no listener of ours for messages), and a
// socket is found by its upgrade request in one Map.
import type { Hocuspocus } from '@hocuspocus/server'
import type { Logger } from './log.ts'
import type { Metrics } from './metrics.ts'

export interface KeepaliveOptions {
  intervalMs: number
  timeoutMs: number
  log?: Logger
  metrics?: Metrics
}

/** What keepalive needs of a socket: ws' WebSocket has all of it. */
export interface PingableSocket {
  ping(): void
  terminate(): void
  on(event: 'pong' | 'close', listener: () => void): unknown
  readonly readyState: number
}

type ClientConnection = ReturnType<Hocuspocus['handleConnection']>

const OPEN = 1

interface Watched {
  socket: PingableSocket
  /** Its `lastMessageReceivedAt` is when the socket last showed life: a message, or a pong. */
  connection: ClientConnection
  /** When the unanswered ping went out, and the last round trip measured (ms). */
  pingAt?: number
  rttMs?: number
}

export class Keepalive {
  private readonly options: KeepaliveOptions
  /** By the socket's upgrade request. */
  private readonly sockets = new Map<object, Watched>()
  private timer?: NodeJS.Timeout

  constructor(options: KeepaliveOptions) {
    this.options = options
  }

  /** Watches every socket `instance.handleConnection` receives from now on. */
  attach(instance: Hocuspocus): void {
    const handleConnection = instance.handleConnection.bind(instance)
    instance.handleConnection = ((socket, request, context) => {
      const connection = handleConnection(socket, request, context)
      if (isPingable(socket)) this.watch(socket, request, connection)
      return connection
    }) as Hocuspocus['handleConnection']
  }

  /** Pings `socket` every interval; terminates it once silent for the timeout. */
  private watch(socket: PingableSocket, request: object, connection: ClientConnection): void {
    const watched: Watched = { socket, connection }
    socket.on('pong', () => this.answered(watched))
    socket.on('close', () => this.forget(request))
    this.sockets.set(request, watched)
    this.timer ??= setInterval(() => this.tick(), this.options.intervalMs).unref()
  }

  /** The last ping round trip (ms) of the socket opened by `request`, once one was answered. */
  rttOf(request: object): number | undefined {
    return this.sockets.get(request)?.rttMs
  }

  /** Number of sockets watched (for tests and stats). */
  get size(): number {
    return this.sockets.size
  }

  stop(): void {
    clearInterval(this.timer)
    this.timer = undefined
  }

  private answered(watched: Watched): void {
    const now = Date.now()
    // Hocuspocus' own idle check only counts messages; a pong is as good.
    watched.connection.lastMessageReceivedAt = now
    if (watched.pingAt === undefined) return
    watched.rttMs = now - watched.pingAt
    watched.pingAt = undefined
    this.options.metrics?.connectionRtt.observe(watched.rttMs / 1000)
  }

  private forget(request: object): void {
    this.sockets.delete(request)
    if (this.sockets.size === 0) this.stop()
  }

  private tick(): void {
    const now = Date.now()
    for (const watched of this.sockets.values()) {
      const { socket } = watched
      if (socket.readyState !== OPEN) continue
      const silentMs = now - watched.connection.lastMessageReceivedAt
      if (silentMs >= this.options.timeoutMs) {
        this.options.log?.debug({ silentMs }, 'terminating a WebSocket that stopped answering pings')
        socket.terminate()
        continue
      }
      try {
        watched.pingAt = now
        socket.ping()
      } catch {
        // closing already
      }
    }
  }
}

function isPingable(socket: unknown): socket is PingableSocket {
  const s = socket as Partial<PingableSocket>
  return typeof s?.ping === 'function' && typeof s.terminate === 'function' && typeof s.on === 'function'
}
