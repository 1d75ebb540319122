// The typed client of the dashboard family, on a Session: staff read the data a back end pushes;
// admins may merge into it, as `PATCH /api/v1/dashboards/…` does.
import { mapOf } from '../../common.ts'
import type { Handle, Session } from '../../client/session.ts'
import { dashboardName, mergeDashboard } from './surface.ts'

/** `s/dashboard/<name>`: open JSON (attendance, grades) watched live. */
export class DashboardClient {
  readonly handle: Handle

  constructor(session: Session, school: string, name: string) {
    this.handle = session.open(dashboardName(school, name))
  }

  data(): Record<string, unknown> {
    return mapOf(this.handle.doc, 'data').toJSON()
  }

  /** Admins: merges `patch` key by key (a null value removes the key); returns the keys that changed. */
  merge(patch: Record<string, unknown>): string[] {
    let changed: string[] = []
    this.handle.write('data', (doc) => (changed = mergeDashboard(doc, patch)))
    return changed
  }
}
