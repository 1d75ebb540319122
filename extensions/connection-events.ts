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
import type { Homeroom } from '../server/homeroom.ts'
import { deviceKind } from '../docs-model/device.ts'
import { EXTENSION_PRIORITY } from './priorities.ts'

const WINDOW_MS = 60_000

interface Socket {
  user: string
  device: string
  /** The upgrade request, which keepalive knows the socket's round trip by. */
  request: object
  /** Open document connections (`<school> <document>`). */
  documents: Set<string>
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
  /** `<school>/<user>` → its open document connections on this instance (socket and document). */
  private readonly open = new Map<string, Set<string>>()
  private readonly sockets = new Map<string, Socket>()

  constructor(app: Homeroom) {
    this.app = app
  }

  async connected({ context, socketId, documentName, request, requestParameters }: connectedPayload): Promise<void> {
    const who = contextOf(context)
    if (!who) return
    const device = deviceKind(requestParameters.get('device'))
    map.setIfUndefined(this.sockets, socketId, (): Socket => ({ user: who.user.sub, device, request, documents: new Set() })).documents.add(documentName)
    const key = `${who.ref.school}/${who.user.sub}`
    const connections = map.setIfUndefined(this.open, key, () => new Set<string>())
    connections.add(`${socketId} ${documentName}`)
    if (connections.size === 1) this.publish('user.connected', who.ref.school, who.user.sub, who.user.role, device)
  }

  /** May fire twice for one connection; only the first removal counts. */
  async onDisconnect({ context, socketId, documentName }: onDisconnectPayload): Promise<void> {
    const who = contextOf(context)
    if (!who) return
    const socket = this.sockets.get(socketId)
    if (socket?.documents.delete(documentName) && socket.documents.size === 0) this.sockets.delete(socketId)
    const key = `${who.ref.school}/${who.user.sub}`
    const connections = this.open.get(key)
    if (!connections?.delete(`${socketId} ${documentName}`) || connections.size > 0) return
    this.open.delete(key)
    this.publish('user.disconnected', who.ref.school, who.user.sub, who.user.role, socket?.device ?? 'unknown')
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
