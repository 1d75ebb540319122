// Stock y-websocket clients for tests, on the server's /y/ endpoint.
import * as encoding from 'lib0/encoding'
import { WebsocketProvider } from 'y-websocket'
import WebSocket from 'ws'
import * as Y from 'yjs'

export interface YClient {
  doc: Y.Doc
  provider: WebsocketProvider
  /** Resolves on the first sync with the server. */
  synced: Promise<void>
  /** Resolves when the server closes the socket for good (a 44xx code); y-websocket then stops retrying. */
  closed: Promise<{ code: number; reason: string }>
  /** How many times the provider started connecting again after its first attempt. */
  reconnects(): number
  destroy(): void
}

const open = new Set<YClient>()

/** Destroys every y-websocket client a test opened. */
export function closeYClients(): void {
  for (const client of open) client.destroy()
}

/** `server` is the server's ws:// origin; the client opens `<server>/y/<name>?token=…`. */
export function connectY(server: string, name: string, token: string, doc = new Y.Doc()): YClient {
  // disableBc: two providers in one process would otherwise sync over BroadcastChannel, not the server.
  const provider = new WebsocketProvider(`${server}/y`, name, doc, {
    params: { token },
    WebSocketPolyfill: WebSocket as unknown as typeof globalThis.WebSocket,
    disableBc: true,
    maxBackoffTime: 200,
  })
  // The constructor's own first attempt happened before this listener exists.
  let reconnects = 0
  provider.on('status', ({ status }) => {
    if (status === 'connecting') reconnects++
  })
  const synced = new Promise<void>((resolve) => {
    const onSync = (state: boolean) => {
      if (!state) return
      provider.off('sync', onSync)
      resolve()
    }
    provider.on('sync', onSync)
  })
  const closed = new Promise<{ code: number; reason: string }>((resolve) => provider.once('closed', (event) => resolve(event)))
  const client: YClient = {
    doc,
    provider,
    synced,
    closed,
    reconnects: () => reconnects,
    destroy() {
      open.delete(client)
      provider.destroy()
      // y-websocket leaves its awareness (and the awareness' timer) alive; the document takes it along.
      doc.destroy()
    },
  }
  open.add(client)
  return client
}

/** Sends `update` as a y-websocket sync update frame on the client's socket, bypassing its Y.Doc. */
export function sendRawYUpdate(client: YClient, update: Uint8Array): void {
  const encoder = encoding.createEncoder()
  encoding.writeVarUint(encoder, 0) // Sync
  encoding.writeVarUint(encoder, 2) // update
  encoding.writeVarUint8Array(encoder, update)
  client.provider.ws!.send(encoding.toUint8Array(encoder))
}
