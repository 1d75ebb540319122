// The typed client of the system family, on a Session: read only (the server writes its figures).
import { mapOf } from '../../common.ts'
import type { Handle, Session } from '../../client/session.ts'
import type { InstanceStatus, SystemFigures } from './state.ts'
import { systemStatusName } from './surface.ts'

/** `s/system/status`: the cluster's live figures, for admins and directors. */
export class SystemStatusClient {
  readonly handle: Handle

  constructor(session: Session, school: string) {
    this.handle = session.open(systemStatusName(school))
  }

  /** The cluster's totals as the server last wrote them (with `at`); empty until it has. */
  figures(): Partial<SystemFigures & { at: number }> {
    return mapOf(this.handle.doc, 'now').toJSON()
  }

  /** Each instance's last heartbeat, by INSTANCE_ID. */
  instances(): Record<string, InstanceStatus> {
    return mapOf(this.handle.doc, 'instances').toJSON() as Record<string, InstanceStatus>
  }
}
