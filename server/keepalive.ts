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
// through an adapter without `ping` (the y-websocket endpoint) keep Hocuspocus' idle timeout;
// `watch` can be given their raw socket.
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
  on(event: 'pong' | 'message' | 'close', listener: () => void): unknown
  readonly readyState: number
}

type ClientConnection = ReturnType<Hocuspocus['handleConnection']>

const OPEN = 1

interface Watched {
  socket: PingableSocket
  connection?: ClientConnection
  lastSeen: number
  /** When the unanswered ping went out, and the last round trip measured (ms). */
  pingAt?: number
  rttMs?: number
}

export class Keepalive {
  private readonly options: KeepaliveOptions
  private readonly sockets = new Set<Watched>()
  private readonly byRequest = new WeakMap<object, Watched>()
  private timer?: NodeJS.Timeout

  constructor(options: KeepaliveOptions) {
    this.options = options
  }

  /** Watches every socket `instance.handleConnection` receives from now on. */
  attach(instance: Hocuspocus): void {
    const handleConnection = instance.handleConnection.bind(instance)
    instance.handleConnection = ((socket, request, context) => {
      const connection = handleConnection(socket, request, context)
      if (isPingable(socket)) this.byRequest.set(request, this.watch(socket, connection))
      return connection
    }) as Hocuspocus['handleConnection']
  }

  /** Pings `socket` every interval; terminates it once silent for the timeout. */
  watch(socket: PingableSocket, connection?: ClientConnection): Watched {
    const watched: Watched = { socket, connection, lastSeen: Date.now() }
    const alive = () => {
      watched.lastSeen = Date.now()
    }
    socket.on('pong', () => {
      alive()
      if (watched.pingAt !== undefined) {
        watched.rttMs = watched.lastSeen - watched.pingAt
        watched.pingAt = undefined
        this.options.metrics?.connectionRtt.observe(watched.rttMs / 1000)
      }
      // Hocuspocus' own idle check only counts messages; a pong is as good.
      if (connection) connection.lastMessageReceivedAt = watched.lastSeen
    })
    socket.on('message', alive)
    socket.on('close', () => {
      this.sockets.delete(watched)
      if (this.sockets.size === 0) this.stop()
    })
    this.sockets.add(watched)
    this.timer ??= setInterval(() => this.tick(), this.options.intervalMs).unref()
    return watched
  }

  /** The last ping round trip (ms) of the socket opened by `request`, once one was answered. */
  rttOf(request: object): number | undefined {
    return this.byRequest.get(request)?.rttMs
  }

  /** Number of sockets watched (for tests and stats). */
  get size(): number {
    return this.sockets.size
  }

  stop(): void {
    clearInterval(this.timer)
    this.timer = undefined
  }

  private tick(): void {
    const now = Date.now()
    for (const watched of this.sockets) {
      const { socket } = watched
      if (socket.readyState !== OPEN) continue
      if (now - watched.lastSeen >= this.options.timeoutMs) {
        this.options.log?.debug({ silentMs: now - watched.lastSeen }, 'terminating a WebSocket that stopped answering pings')
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
