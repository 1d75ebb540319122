// The stock y-websocket endpoint: `ws://host:PORT/y/<name>?token=<jwt>`.
//
// y-websocket speaks the same sync and awareness messages as Hocuspocus, but one document per
// socket and without the document-name address in front of each frame. So each socket is handed
// to Hocuspocus as if it were a provider that opened exactly one document: the adapter sends the
// URL's token as that provider's authentication message, prefixes the name on frames going in and
// strips it from frames going out. Every hook (auth and limits, the write guard, the journal,
// presence stamping, Redis) runs exactly as it does for Hocuspocus providers, because it is the
// same code path (Hocuspocus.handleConnection), not a copy of it.
//
// Refusals end the socket with a 44xx close code, which stops y-websocket 3 from reconnecting.
import type { IncomingHttpHeaders } from 'node:http'
import * as decoding from 'lib0/decoding'
import * as encoding from 'lib0/encoding'
import { WebSocketServer, type WebSocket, type RawData } from 'ws'
import { MessageType, type Extension, type Hocuspocus, type onUpgradePayload, type WebSocketLike } from '@hocuspocus/server'
import type { Logger } from './log.ts'
import { closeCodeFor } from '../docs-model/refusals.ts'
import type { PausableSocket } from './backlog.ts'
import { EXTENSION_PRIORITY } from '../extensions/priorities.ts'

export const YWEBSOCKET_PREFIX = '/y/'

const READ_ONLY_WRITE = 'forbidden-write: this connection is read-only'

// Hocuspocus' authentication sub-messages (@hocuspocus/common AuthMessageType).
const AUTH_TOKEN = 0
const AUTH_PERMISSION_DENIED = 1

/** Frame types a y-websocket client may send: sync, awareness, query awareness. */
const CLIENT_TYPES = new Set<number>([MessageType.Sync, MessageType.Awareness, MessageType.QueryAwareness])

export class YWebsocketEndpoint implements Extension {
  readonly extensionName = 'y-websocket'
  readonly priority = EXTENSION_PRIORITY.ywebsocket
  private readonly wss: WebSocketServer
  private readonly log: Logger

  constructor(options: { log: Logger; maxPayload: number }) {
    this.log = options.log
    this.wss = new WebSocketServer({ noServer: true, clientTracking: false, maxPayload: options.maxPayload })
  }

  async onUpgrade({ request, socket, head, instance }: onUpgradePayload): Promise<void> {
    const url = new URL(request.url ?? '/', 'http://localhost')
    if (!url.pathname.startsWith(YWEBSOCKET_PREFIX)) return
    const name = safeDecode(url.pathname.slice(YWEBSOCKET_PREFIX.length))
    const token = url.searchParams.get('token') ?? ''
    this.wss.handleUpgrade(request, socket, head, (ws) => this.attach(instance, ws, name, token, request.headers))
    // Stops Hocuspocus from handling this upgrade itself.
    throw null
  }

  private attach(hocuspocus: Hocuspocus, ws: WebSocket, name: string, token: string, headers: IncomingHttpHeaders): void {
    let closed = false
    const end = (reason: string) => {
      if (closed) return
      closed = true
      const code = closeCodeFor(reason)
      this.log.debug({ doc: name.slice(0, 200), code, reason }, 'y-websocket closed by server')
      ws.close(code, truncateUtf8(reason, 123))
    }

    const adapter: WebSocketLike & PausableSocket = {
      get readyState() {
        return ws.readyState
      },
      // Backpressure (server/backlog.ts) pauses the socket's reads.
      pause: () => ws.pause(),
      resume: () => ws.resume(),
      send: (data) => {
        const frame = toClient(data as Uint8Array)
        if (frame.kind === 'forward') ws.send(frame.data)
        else if (frame.kind === 'end') end(frame.reason)
      },
      // Hocuspocus closes sockets itself only for its own reasons (idle timeout, malformed frames).
      close: (_code, reason) => end(reason ?? 'closed'),
    }

    // The token stays out of the request Hocuspocus keeps, so no hook or log line can see it.
    const request = new Request(`http://localhost${YWEBSOCKET_PREFIX}${encodeURI(name)}`, { headers: toHeaders(headers) })
    const client = hocuspocus.handleConnection(adapter, request)
    const address = (payload: Uint8Array) => {
      const encoder = encoding.createEncoder()
      encoding.writeVarString(encoder, name)
      encoding.writeUint8Array(encoder, payload)
      return encoding.toUint8Array(encoder)
    }

    const auth = encoding.createEncoder()
    encoding.writeVarUint(auth, MessageType.Auth)
    encoding.writeVarUint(auth, AUTH_TOKEN)
    encoding.writeVarString(auth, token)
    client.handleMessage(address(encoding.toUint8Array(auth)))

    ws.on('message', (data: RawData, isBinary: boolean) => {
      if (closed) return
      const bytes = isBinary ? toBytes(data) : undefined
      const type = bytes ? firstVarUint(bytes) : undefined
      if (!bytes || type === undefined || !CLIENT_TYPES.has(type)) {
        end('bad-message: y-websocket frames must be binary sync or awareness messages')
        return
      }
      client.handleMessage(address(bytes))
    })
    ws.on('close', (code, reason) => {
      closed = true
      client.handleClose({ code, reason: reason.toString() })
    })
    ws.on('error', (error) => this.log.debug({ doc: name.slice(0, 200), err: error.message }, 'y-websocket socket error'))
  }
}

type OutgoingFrame = { kind: 'forward'; data: Uint8Array } | { kind: 'end'; reason: string } | { kind: 'drop' }

/** Translates a Hocuspocus frame for a y-websocket client: strip the address, keep what it understands. */
function toClient(data: Uint8Array): OutgoingFrame {
  const decoder = decoding.createDecoder(data)
  decoding.readVarString(decoder)
  const type = decoding.readVarUint(decoder)
  const rest = data.subarray(decoder.pos)
  switch (type) {
    case MessageType.Sync:
    case MessageType.Awareness:
      return { kind: 'forward', data: data.subarray(decoder.pos - 1) }
    case MessageType.SyncReply: {
      const encoder = encoding.createEncoder()
      encoding.writeVarUint(encoder, MessageType.Sync)
      encoding.writeUint8Array(encoder, rest)
      return { kind: 'forward', data: encoding.toUint8Array(encoder) }
    }
    case MessageType.Auth:
      // "Authenticated" needs no answer; a denial ends the socket with its reason.
      return decoding.readVarUint(decoder) === AUTH_PERMISSION_DENIED ? { kind: 'end', reason: decoding.readVarString(decoder) } : { kind: 'drop' }
    case MessageType.CLOSE:
      return { kind: 'end', reason: decoding.readVarString(decoder) }
    case MessageType.SyncStatus:
      // Hocuspocus drops a read-only connection's changes quietly and tells only its own provider;
      // a stock client would believe them applied, so it is told the way every refused write is.
      return decoding.readVarUint(decoder) === 0 ? { kind: 'end', reason: READ_ONLY_WRITE } : { kind: 'drop' }
    default:
      // Sync acknowledgements, stateless messages, pings: y-websocket has no use for them.
      return { kind: 'drop' }
  }
}

function firstVarUint(bytes: Uint8Array): number | undefined {
  try {
    return decoding.readVarUint(decoding.createDecoder(bytes))
  } catch {
    return undefined
  }
}

function toBytes(data: RawData): Uint8Array {
  if (Array.isArray(data)) return Buffer.concat(data)
  return data instanceof ArrayBuffer ? new Uint8Array(data) : data
}

function safeDecode(path: string): string {
  try {
    return decodeURIComponent(path)
  } catch {
    return path
  }
}

function toHeaders(headers: IncomingHttpHeaders): Headers {
  const out = new Headers()
  for (const [key, value] of Object.entries(headers)) {
    if (value === undefined || key.startsWith(':')) continue
    for (const v of Array.isArray(value) ? value : [value]) out.append(key, v)
  }
  return out
}

/** A WebSocket close reason may hold at most 123 bytes of UTF-8. */
function truncateUtf8(text: string, maxBytes: number): string {
  let out = text
  while (Buffer.byteLength(out) > maxBytes) out = out.slice(0, -1)
  return out
}
