// The typed client of the emergency family, on a Session: writes through surface.ts, each write
// checked against the rule the server applies.
import { mapOf } from '../../common.ts'
import type { Handle, Session } from '../../client/session.ts'
import { acknowledge } from './surface.ts'

/** `s/emergency/<id>`: the broadcast and the user's acknowledgement. */
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

  acknowledge(): void {
    const me = this.handle.session.user.sub
    this.handle.write(`acks/${me}`, (doc) => acknowledge(doc, me, this.handle.session.now()))
  }
}
