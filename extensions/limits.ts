// Per-connection and per-user limits: message size and rate, connections per user, documents
// per connection, opening attempts per second. A client over a limit is refused with a clear
// reason; nobody else notices.
import { closeCodeFor, OPENING_RATE_REASON } from '../docs-model/refusals.ts'
import type { beforeHandleMessagePayload, connectedPayload, Extension, onDisconnectPayload } from '@hocuspocus/server'
import { parseFrame } from '../server/frames.ts'
import { contextOf, Refusal } from '../server/context.ts'
import type { Config } from '../server/config.ts'
import type { Metrics } from '../server/metrics.ts'
import { TokenBuckets } from '../server/rate.ts'
import { Backlog, isPausable } from '../server/backlog.ts'
import { hasName, nameCount, withName, withoutName, type Names } from '../server/names.ts'
import { EXTENSION_PRIORITY } from './priorities.ts'

/**
 * Opening refusals must start with a reason docs/api.md lists (unauthenticated,
 * forbidden, bad-name, unknown-surface), so the opening rate's refusal is a `forbidden`.
 */

/**
 * A user's sockets, each with the documents open on it. The one socket nearly every user has is
 * kept as a small record: a Map costs about 190 bytes more.
 */
type UserSockets = { socket: string; docs: Names } | Map<string, Names>

const docsOn = (sockets: UserSockets | undefined, socketId: string): Names | undefined =>
  sockets instanceof Map ? sockets.get(socketId) : sockets?.socket === socketId ? sockets.docs : undefined

const socketCount = (sockets: UserSockets | undefined): number => (sockets instanceof Map ? sockets.size : sockets ? 1 : 0)

/** `sockets` with `docs` open on `socketId` (a Map once there are several sockets). */
function withDocs(sockets: UserSockets | undefined, socketId: string, docs: Names): UserSockets {
  if (sockets instanceof Map) return sockets.set(socketId, docs)
  if (!sockets || sockets.socket === socketId) return { socket: socketId, docs }
  return new Map([[sockets.socket, sockets.docs], [socketId, docs]])
}

/** `sockets` without `socketId`; undefined once none is left. */
function withoutSocket(sockets: UserSockets, socketId: string): UserSockets | undefined {
  if (!(sockets instanceof Map)) return sockets.socket === socketId ? undefined : sockets
  sockets.delete(socketId)
  return sockets.size ? sockets : undefined
}

export class Limits implements Extension {
  readonly extensionName = 'limits'
  readonly priority = EXTENSION_PRIORITY.limits
  private readonly limits: Config['limits']
  private readonly metrics: Metrics
  /** user → socket → documents open on it. Kept from `connected` and `onDisconnect`. */
  private readonly open = new Map<string, UserSockets>()
  /**
   * A session-aware provider that reopens a document on its socket is a new connection, which
   * may connect before the old one's `onDisconnect` (it waits for the messages the old one was
   * handling): the connections beyond the first of one socket and document, by `<socket> <doc>`.
   */
  private readonly reopened = new Map<string, number>()
  /** Connections counted, by their context (one object per connection): each is uncounted once. */
  private readonly counted = new WeakSet<object>()
  /** document → its client connections on this instance (MAX_CLIENTS_PER_DOCUMENT). */
  private readonly clients = new Map<string, number>()
  /** Messages over the rate wait here (reads paused) until the byte budget runs out. */
  private readonly backlog: Backlog
  /** Opening attempts, kept apart by socket and by user (a socket id never collides with a user id). */
  private readonly opensBySocket: TokenBuckets
  private readonly opensByUser: TokenBuckets

  constructor(config: { limits: Config['limits']; metrics: Metrics }) {
    this.limits = config.limits
    this.metrics = config.metrics
    this.backlog = new Backlog({ ratePerSec: config.limits.messagesPerSec, maxQueuedBytes: config.limits.queuedBytes, metrics: config.metrics })
    this.opensBySocket = new TokenBuckets(config.limits.opensPerSec)
    this.opensByUser = new TokenBuckets(config.limits.opensPerSec)
  }

  /**
   * Counts one opening attempt on a socket (before its token is verified) or by a user (after);
   * throws the opening-rate refusal when over MAX_OPENS_PER_SEC. Refused attempts count too:
   * they are what a flood is made of.
   */
  countOpening(by: { socket: string } | { user: string }): void {
    const allowed = 'socket' in by ? this.opensBySocket.take(by.socket) : this.opensByUser.take(by.user)
    if (!allowed) throw new Refusal(OPENING_RATE_REASON, closeCodeFor(OPENING_RATE_REASON))
  }

  /** Called while authenticating: may this user open one more document on this socket? */
  admit(user: string, socketId: string, documentName: string): void {
    const sockets = this.open.get(user)
    const docs = docsOn(sockets, socketId)
    if (hasName(docs, documentName)) return
    if ((this.clients.get(documentName) ?? 0) >= this.limits.clientsPerDocument) {
      throw new Refusal(`full: ${documentName} has ${this.limits.clientsPerDocument} connections already, try again later`, closeCodeFor('full:'))
    }
    if (docs && nameCount(docs) >= this.limits.docsPerConnection) {
      throw new Refusal(`limit: at most ${this.limits.docsPerConnection} documents per connection`, 4429)
    }
    if (!docs && socketCount(sockets) >= this.limits.connectionsPerUser) {
      throw new Refusal(`limit: at most ${this.limits.connectionsPerUser} connections per user`, 4429)
    }
  }

  async connected({ context, socketId, documentName }: connectedPayload): Promise<void> {
    const user = contextOf(context)?.user.sub
    if (!user || this.counted.has(context)) return
    this.counted.add(context)
    const sockets = this.open.get(user)
    const docs = docsOn(sockets, socketId)
    const key = `${socketId} ${documentName}`
    if (hasName(docs, documentName)) this.reopened.set(key, (this.reopened.get(key) ?? 0) + 1)
    else this.open.set(user, withDocs(sockets, socketId, withName(docs, documentName)))
    this.clients.set(documentName, (this.clients.get(documentName) ?? 0) + 1)
    this.metrics.connections.inc()
  }

  /** May fire twice for one connection; only the first removal counts. */
  async onDisconnect({ context, socketId, documentName }: onDisconnectPayload): Promise<void> {
    const user = contextOf(context)?.user.sub
    const sockets = user ? this.open.get(user) : undefined
    const docs = docsOn(sockets, socketId)
    if (!user || !sockets || !hasName(docs, documentName) || !this.counted.delete(context)) return
    const left = (this.clients.get(documentName) ?? 1) - 1
    if (left > 0) this.clients.set(documentName, left)
    else this.clients.delete(documentName)
    this.metrics.connections.dec()
    // Another connection of this socket to the document is still open: the document stays.
    const key = `${socketId} ${documentName}`
    const others = this.reopened.get(key)
    if (others !== undefined) {
      if (others > 1) this.reopened.set(key, others - 1)
      else this.reopened.delete(key)
      return
    }
    const rest = withoutName(docs, documentName)
    if (rest !== undefined) {
      this.open.set(user, withDocs(sockets, socketId, rest))
      return
    }
    // The opening bucket stays (swept once idle): a socket that closes its last document may open more.
    this.backlog.forget(socketId)
    const remaining = withoutSocket(sockets, socketId)
    if (remaining) this.open.set(user, remaining)
    else this.open.delete(user)
  }

  async beforeHandleMessage({ update, socketId, connection }: beforeHandleMessagePayload): Promise<void> {
    if (update.byteLength > this.limits.maxMessageBytes) {
      throw this.refuse(new Refusal(`too-large: message of ${update.byteLength} bytes exceeds ${this.limits.maxMessageBytes}`, 4413))
    }
    // Every socket Homeroom serves can pause (ws through crossws, and the `/y/` adapter).
    const socket = connection.webSocket
    if (!isPausable(socket)) throw new Error('limits: a socket without pause() cannot be slowed down')
    await this.backlog.admit(socketId, socket, connection)
    let kind: number
    try {
      kind = parseFrame(update).type
    } catch (error) {
      throw this.refuse(new Refusal(`bad-message: ${(error as Error).message}`, 4400))
    }
    this.metrics.countMessage(kind)
  }

  /** Open sockets, for statistics. */
  socketCount(): number {
    let n = 0
    for (const sockets of this.open.values()) n += socketCount(sockets)
    return n
  }

  private refuse(refusal: Refusal): Refusal {
    this.metrics.refuse(refusal.reason)
    return refusal
  }
}
