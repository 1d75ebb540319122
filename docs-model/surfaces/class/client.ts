// The typed client of the class family, on a Session: writes through surface.ts, each write
// checked against the rule the server applies.
import { entriesOf, mapOf } from '../../common.ts'
import type { Handle, Session } from '../../client/session.ts'
import { classAction, className, reportActivity, type ActivityEntry, type ActivityState, type ClassAction } from './surface.ts'
import type { ClassStats } from './state.ts'

/** `s/class/<id>`: students report their activity; teachers read the stats and send actions. */
export class ClassClient {
  readonly handle: Handle

  constructor(session: Session, school: string, id: string) {
    this.handle = session.open(className(school, id))
  }

  activity(): Array<[string, ActivityEntry]> {
    return entriesOf<ActivityEntry>(mapOf(this.handle.doc, 'activity'))
  }

  /** As the server last derived them; empty until it has. */
  stats(): Partial<ClassStats> {
    return mapOf(this.handle.doc, 'stats').toJSON()
  }

  report(state: ActivityState, options: { page?: string; handRaised?: boolean } = {}): void {
    const me = this.handle.session.user.sub
    this.handle.write(`activity/${me}`, (doc) => reportActivity(doc, me, state, options, this.handle.session.now()))
  }

  /** Teachers: ask every screen to focus on a page, or lock them. */
  act(action: ClassAction, value: string | boolean | null): void {
    this.handle.write(`actions/${action}`, (doc) => classAction(doc, action, value))
  }
}
