// Real Hocuspocus provider clients for tests, with promises for the events tests wait on.
import { HocuspocusProvider, HocuspocusProviderWebsocket } from '@hocuspocus/provider'
import WebSocket from 'ws'
import * as Y from 'yjs'

export interface Client {
  doc: Y.Doc
  provider: HocuspocusProvider
  socket: HocuspocusProviderWebsocket
  /** Resolves on the first sync with the server. */
  synced: Promise<void>
  /** Resolves with the reason when the server refuses to open the document. */
  refused: Promise<string>
  /** Resolves with the reason when the server closes the document connection. */
  closed: Promise<string>
  /** Resolves once the server acknowledged every change made so far (fails after `timeoutMs`, default 10 s). */
  acknowledged(timeoutMs?: number): Promise<void>
  destroy(): void
}

const open = new Set<Client>()

/** Destroys every client a test opened (use as `test.after.each(closeClients)`). */
export function closeClients(): void {
  for (const client of open) client.destroy()
}

export function openSocket(url: string): HocuspocusProviderWebsocket {
  return new HocuspocusProviderWebsocket({ url, WebSocketPolyfill: WebSocket, maxAttempts: 1, messageReconnectTimeout: 30_000 })
}

export function connect(url: string, name: string, token: string, options: { socket?: HocuspocusProviderWebsocket; doc?: Y.Doc } = {}): Client {
  const socket = options.socket ?? openSocket(url)
  const doc = options.doc ?? new Y.Doc()
  let onSynced!: () => void
  let onRefused!: (reason: string) => void
  let onClosed!: (reason: string) => void
  const synced = new Promise<void>((r) => (onSynced = r))
  const refused = new Promise<string>((r) => (onRefused = r))
  const closed = new Promise<string>((r) => (onClosed = r))
  const provider = new HocuspocusProvider({
    websocketProvider: socket,
    name,
    document: doc,
    token,
    onSynced: () => onSynced(),
    onAuthenticationFailed: ({ reason }) => onRefused(reason),
    onClose: ({ event }) => onClosed(event.reason),
  })
  provider.attach()
  const client: Client = {
    doc,
    provider,
    socket,
    synced,
    refused,
    closed,
    acknowledged: (timeoutMs = 10_000) => within(acknowledgement(provider), timeoutMs, 'server acknowledgement'),
    destroy() {
      open.delete(client)
      provider.destroy()
      if (!options.socket) socket.destroy()
    },
  }
  open.add(client)
  return client
}

/** Resolves when the provider has no change left that the server has not acknowledged. */
function acknowledgement(provider: HocuspocusProvider): Promise<void> {
  if (!provider.hasUnsyncedChanges) return Promise.resolve()
  return new Promise((resolve) => {
    const check = () => {
      if (provider.hasUnsyncedChanges) return
      provider.off('unsyncedChanges', check)
      resolve()
    }
    provider.on('unsyncedChanges', check)
  })
}

/** Waits until `check` holds, re-checking every few milliseconds; fails after `timeoutMs`. */
export async function eventually(check: () => boolean | Promise<boolean>, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 5))
  }
}

/** Races a promise against a deadline, naming what was awaited. */
export async function within<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)), timeoutMs)
  })
  try {
    return await Promise.race([promise, deadline])
  } finally {
    clearTimeout(timer)
  }
}
