// `user.connected` / `user.disconnected` out (server/events/outbound.ts): when a user's first
// document connection to a school opens on this instance, and when their last one closes. The
// ids carry the minute, so a user publishes at most one of each per school and minute across
// the cluster however often their connection flaps (the rate limit), and two instances seeing
// the same user publish once.
import type { connectedPayload, Extension, onDisconnectPayload } from '@hocuspocus/server'
import * as map from 'lib0/map'
import { contextOf } from '../server/context.ts'
import type { Homeroom } from '../server/homeroom.ts'
import { EXTENSION_PRIORITY } from './priorities.ts'

const WINDOW_MS = 60_000

export class ConnectionEvents implements Extension {
  readonly extensionName = 'connection-events'
  readonly priority = EXTENSION_PRIORITY.connectionEvents
  private readonly app: Homeroom
  /** `<school>/<user>` → its open document connections on this instance (socket and document). */
  private readonly open = new Map<string, Set<string>>()

  constructor(app: Homeroom) {
    this.app = app
  }

  async connected({ context, socketId, documentName }: connectedPayload): Promise<void> {
    const who = contextOf(context)
    if (!who) return
    const key = `${who.ref.school}/${who.user.sub}`
    const connections = map.setIfUndefined(this.open, key, () => new Set<string>())
    connections.add(`${socketId} ${documentName}`)
    if (connections.size === 1) this.publish('user.connected', who.ref.school, who.user.sub, who.user.role)
  }

  /** May fire twice for one connection; only the first removal counts. */
  async onDisconnect({ context, socketId, documentName }: onDisconnectPayload): Promise<void> {
    const who = contextOf(context)
    if (!who) return
    const key = `${who.ref.school}/${who.user.sub}`
    const connections = this.open.get(key)
    if (!connections?.delete(`${socketId} ${documentName}`) || connections.size > 0) return
    this.open.delete(key)
    this.publish('user.disconnected', who.ref.school, who.user.sub, who.user.role)
  }

  private publish(type: 'user.connected' | 'user.disconnected', school: string, user: string, role: string): void {
    const at = Date.now()
    this.app.eventsOut.publish({ type, id: `${type}:${school}:${user}:${Math.floor(at / WINDOW_MS)}`, school, at, data: { user, role, instance: this.app.config.instanceId } })
  }
}
