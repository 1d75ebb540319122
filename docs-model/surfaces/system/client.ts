// The typed client of the system family, on a Session: read only (the server writes its figures).
import { mapOf } from '../../common.ts'
import type { Handle, Session } from '../../client/session.ts'
import type { SystemFigures } from './state.ts'
import { systemStatusName } from './surface.ts'

/** `s/system/status`: the server's own live figures, for admins and directors. */
export class SystemStatusClient {
  readonly handle: Handle

  constructor(session: Session, school: string) {
    this.handle = session.open(systemStatusName(school))
  }

  /** As the server last wrote them (with `at`); empty until it has. */
  figures(): Partial<SystemFigures & { at: number }> {
    return mapOf(this.handle.doc, 'now').toJSON()
  }
}
