// The typed client of the emergency family, on a Session: writes through surface.ts, each write
// checked against the rule the server applies.
import { mapOf } from '../../common.ts'
import type { Handle, Session } from '../../client/session.ts'
import { clearedOf } from './state.ts'
import { acknowledge, clearEmergency, type Cleared } from './surface.ts'

/** `s/emergency/<id>`: the broadcast, the user's acknowledgement, and the "all clear". */
export class EmergencyClient {
  readonly handle: Handle

  constructor(session: Session, name: string) {
    this.handle = session.open(name)
  }

  broadcast(): { title?: string; message?: string; level?: string; at?: number } {
    return mapOf(this.handle.doc, 'broadcast').toJSON()
  }

  acknowledged(): boolean {
    return mapOf(this.handle.doc, 'acks').has(this.handle.session.user.sub)
  }

  status(): { targeted?: number; acked?: number; escalations?: number } {
    return mapOf(this.handle.doc, 'status').toJSON()
  }

  /** Who acknowledged, by user id (the document's `acks`): an admin's view of who is missing. */
  acks(): Record<string, { at?: number }> {
    return mapOf(this.handle.doc, 'acks').toJSON()
  }

  /** Who ended the emergency and when; undefined while it runs. */
  cleared(): Cleared | undefined {
    return clearedOf(this.handle.doc)
  }

  /** May this user end it (admins, and whoever sent the broadcast)? */
  mayClear(): boolean {
    return this.handle.canWrite('cleared/by')
  }

  /** "All clear": ends the emergency, so the server stops escalating it. Once: a second clear is refused. */
  clear(): void {
    const me = this.handle.session.user.sub
    this.handle.write('cleared/by', (doc) => clearEmergency(doc, me, this.handle.session.now()))
  }

  acknowledge(): void {
    const me = this.handle.session.user.sub
    this.handle.write(`acks/${me}`, (doc) => acknowledge(doc, me, this.handle.session.now()))
  }
}
