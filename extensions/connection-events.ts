// Who is connected, as the server tells a back end and an operator: `user.connected` /
// `user.disconnected` out (server/events/outbound.ts) when a user's first document connection to
// a school opens on this instance and when their last one closes, and per user the sockets, the
// devices they reported (the `device` URL parameter, never trusted for rules) and the last ping
// round trip (server/keepalive.ts) for `GET /api/v1/stats`. Event ids carry the minute, so a
// user publishes at most one of each per school and minute across the cluster however often
// their connection flaps (the rate limit), and two instances seeing the same user publish once.
import type { connectedPayload, Extension, onDisconnectPayload } from '@hocuspocus/server'
import * as map from 'lib0/map'
import { contextOf } from '../server/context.ts'
import { hasName, withName, withoutName, type Names } from '../server/names.ts'
import type { Homeroom } from '../server/homeroom.ts'
import { deviceKind } from '../docs-model/device.ts'
import { EXTENSION_PRIORITY } from './priorities.ts'

const WINDOW_MS = 60_000

interface Socket {
  user: string
  device: string
  /** The upgrade request, which keepalive knows the socket's round trip by. */
  request: object
  /** Its open document connections. */
  documents: Names
}

export interface UserConnections {
  sockets: number
  devices: string[]
  /** The slowest of the user's sockets' last ping round trips, in ms. */
  rttMs?: number
}

export class ConnectionEvents implements Extension {
  readonly extensionName = 'connection-events'
  readonly priority = EXTENSION_PRIORITY.connectionEvents
  private readonly app: Homeroom
  /** school → user → how many document connections they have open on this instance (by the strings the context holds: no key built per connection). */
  private readonly open = new Map<string, Map<string, number>>()
  /** A socket's document connections, each counted once in `open`. */
  private readonly sockets = new Map<string, Socket>()
  /**
   * A session-aware provider that reopens a document on its socket is a new connection, which may
   * connect before the old one's `onDisconnect`: the connections beyond the first of one socket
   * and document, by `<socket> <doc>` (as in limits.ts).
   */
  private readonly reopened = new Map<string, number>()
  /** Connections counted, by their context (one object per connection): each is uncounted once. */
  private readonly counted = new WeakSet<object>()

  constructor(app: Homeroom) {
    this.app = app
  }

  async connected({ context, socketId, documentName, request, requestParameters }: connectedPayload): Promise<void> {
    const who = contextOf(context)
    if (!who || this.counted.has(context)) return
    this.counted.add(context)
    const device = deviceKind(requestParameters.get('device'))
    const socket = this.sockets.get(socketId)
    const key = `${socketId} ${documentName}`
    if (!socket) this.sockets.set(socketId, { user: who.user.sub, device, request, documents: documentName })
    else if (hasName(socket.documents, documentName)) this.reopened.set(key, (this.reopened.get(key) ?? 0) + 1)
    else socket.documents = withName(socket.documents, documentName)
    const users = map.setIfUndefined(this.open, who.ref.school, () => new Map<string, number>())
    const connections = (users.get(who.user.sub) ?? 0) + 1
    users.set(who.user.sub, connections)
    if (connections === 1) this.publish('user.connected', who.ref.school, who.user.sub, who.user.role, device)
  }

  /** May fire twice for one connection; only the first removal counts. */
  async onDisconnect({ context, socketId, documentName }: onDisconnectPayload): Promise<void> {
    const who = contextOf(context)
    if (!who) return
    const socket = this.sockets.get(socketId)
    if (!socket || !hasName(socket.documents, documentName) || !this.counted.delete(context)) return
    // Another connection of this socket to the document is still open: the socket keeps it.
    const key = `${socketId} ${documentName}`
    const others = this.reopened.get(key)
    if (others !== undefined) {
      if (others > 1) this.reopened.set(key, others - 1)
      else this.reopened.delete(key)
    } else {
      const rest = withoutName(socket.documents, documentName)
      if (rest === undefined) this.sockets.delete(socketId)
      else socket.documents = rest
    }
    const users = this.open.get(who.ref.school)
    const connections = (users?.get(who.user.sub) ?? 1) - 1
    if (users && connections > 0) {
      users.set(who.user.sub, connections)
      return
    }
    users?.delete(who.user.sub)
    if (users?.size === 0) this.open.delete(who.ref.school)
    this.publish('user.disconnected', who.ref.school, who.user.sub, who.user.role, socket.device)
  }

  /** Per connected user: sockets, reported devices and the slowest last round trip. */
  users(rttOf: (request: object) => number | undefined): Record<string, UserConnections> {
    const users: Record<string, UserConnections> = {}
    for (const socket of this.sockets.values()) {
      const entry = (users[socket.user] ??= { sockets: 0, devices: [] })
      entry.sockets++
      if (!entry.devices.includes(socket.device)) entry.devices.push(socket.device)
      const rtt = rttOf(socket.request)
      if (rtt !== undefined) entry.rttMs = Math.max(entry.rttMs ?? 0, rtt)
    }
    return users
  }

  private publish(type: 'user.connected' | 'user.disconnected', school: string, user: string, role: string, device: string): void {
    const at = this.app.clock.now() // the server's clock: tests cross a window by advancing it
    this.app.eventsOut.publish({ type, id: `${type}:${school}:${user}:${Math.floor(at / WINDOW_MS)}`, school, at, data: { user, role, device, instance: this.app.config.instanceId } })
  }
}
