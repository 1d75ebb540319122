// The typed client of the bus family, on a Session: reads through state.ts, writes through
// surface.ts, each write checked against the rule the server applies.
import { entriesOf, mapOf } from '../../common.ts'
import type { Handle, Session } from '../../client/session.ts'
import { busName, reportPosition, type BusAlert, type BusFix, type BusStop } from './surface.ts'
import { routeOf } from './state.ts'

/** `s/bus/<id>`: live position, route, alerts; drivers report fixes. */
export class BusClient {
  readonly handle: Handle

  constructor(session: Session, school: string, id: string) {
    this.handle = session.open(busName(school, id))
  }

  position(): BusFix | undefined {
    return mapOf(this.handle.doc, 'position').get('now') as BusFix | undefined
  }

  /** The route's stops, as the server reads them for its alerts. */
  stops(): BusStop[] {
    return routeOf(this.handle.doc).stops
  }

  alerts(): Array<[string, BusAlert]> {
    return entriesOf<BusAlert>(mapOf(this.handle.doc, 'alerts'))
  }

  /** Drivers: one key, overwritten, so the document stays tiny however long the trip. */
  report(fix: BusFix): void {
    this.handle.write('position/now', (doc) => reportPosition(doc, fix))
  }
}
