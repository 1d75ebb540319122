// Real Hocuspocus provider clients for tests, with promises for the events tests wait on.
import { HocuspocusProvider, HocuspocusProviderWebsocket } from '@hocuspocus/provider'
import WebSocket from 'ws'
import * as Y from 'yjs'
import type { Claims } from '../../server/identity.ts'
import { mintToken } from './tokens.ts'

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
  /** The same close with its code: 1000 when the server closed the document, the socket's own code (4429…) when it closed the socket. */
  closeEvent: Promise<{ code: number; reason: string }>
  /** Resolves once the server acknowledged every change made so far (fails after `timeoutMs`, default `DEADLINE_MS`). */
  acknowledged(timeoutMs?: number): Promise<void>
  destroy(): void
}

const live = new Set<Client>()

/** Destroys every client a test opened (use as `test.after.each(closeClients)`). */
export function closeClients(): void {
  for (const client of live) client.destroy()
}

export function openSocket(url: string): HocuspocusProviderWebsocket {
  return new HocuspocusProviderWebsocket({ url, WebSocketPolyfill: WebSocket, maxAttempts: 1, messageReconnectTimeout: 30_000 })
}

export function connect(url: string, name: string, token: string, options: { socket?: HocuspocusProviderWebsocket; doc?: Y.Doc } = {}): Client {
  const socket = options.socket ?? openSocket(url)
  const doc = options.doc ?? new Y.Doc()
  let onSynced!: () => void
  let onRefused!: (reason: string) => void
  let onClosed!: (code: number, reason: string) => void
  const synced = new Promise<void>((r) => (onSynced = r))
  const refused = new Promise<string>((r) => (onRefused = r))
  const closeEvent = new Promise<{ code: number; reason: string }>((r) => (onClosed = (code, reason) => r({ code, reason })))
  const closed = closeEvent.then(({ reason }) => reason)
  const provider = new HocuspocusProvider({
    websocketProvider: socket,
    name,
    document: doc,
    token,
    onSynced: () => onSynced(),
    onAuthenticationFailed: ({ reason }) => onRefused(reason),
    onClose: ({ event }) => onClosed(event.code, event.reason),
  })
  provider.attach()
  const client: Client = {
    doc,
    provider,
    socket,
    synced,
    refused,
    closed,
    closeEvent,
    acknowledged: (timeoutMs = DEADLINE_MS) => within(acknowledgement(provider), timeoutMs, 'server acknowledgement'),
    destroy() {
      live.delete(client)
      provider.destroy()
      if (!options.socket) socket.destroy()
    },
  }
  live.add(client)
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

/**
 * How long a test waits for something that must happen before it gives up. Generous on purpose:
 * on a loaded machine a sync can take seconds, and a deadline only decides when a failure is
 * reported, never whether the behaviour is right (tests that check promptness pass their own).
 */
export const DEADLINE_MS = 30_000

/** Waits until `condition` holds, re-checking every few milliseconds; fails after `timeout`. */
export async function until(condition: () => boolean | Promise<boolean>, { timeout = DEADLINE_MS, what = 'condition' }: { timeout?: number; what?: string } = {}): Promise<void> {
  const deadline = Date.now() + timeout
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 5))
  }
}

/** `until` with positional arguments, for the suites that have not moved to it yet. */
export const eventually = (check: () => boolean | Promise<boolean>, timeoutMs = 5000, what = 'condition'): Promise<void> => until(check, { timeout: timeoutMs, what })

/**
 * Connects to `name` as `claims` (or with a ready token) and waits for the first sync; fails at
 * once with the reason if the server refuses the document.
 */
export async function open(
  server: { url: string },
  name: string,
  who: Claims | string,
  options: { socket?: HocuspocusProviderWebsocket; doc?: Y.Doc; timeout?: number } = {},
): Promise<Client> {
  const client = connect(server.url, name, typeof who === 'string' ? who : await mintToken(who), options)
  const as = typeof who === 'string' ? 'a token' : who.sub
  const refused = client.refused.then((reason) => Promise.reject(new Error(`${name} refused to ${as}: ${reason}`)))
  await within(Promise.race([client.synced, refused]), options.timeout ?? DEADLINE_MS, `sync of ${name} as ${as}`)
  return client
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
