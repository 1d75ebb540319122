// The typed client of the board family, on a Session: writes through surface.ts, each write
// checked against the rule the server applies.
import { entriesOf, mapOf } from '../../common.ts'
import type { Handle, Session } from '../../client/session.ts'
import { drawElement, elementKey, isLocked, type BoardElement } from './surface.ts'

/** `s/board/<id>`: a whiteboard; each user's elements are keyed `<user>:<id>`. */
export class BoardClient {
  readonly handle: Handle

  constructor(session: Session, name: string) {
    this.handle = session.open(name)
  }

  /** Bottom first. */
  elements(): Array<[string, BoardElement]> {
    return entriesOf<BoardElement>(mapOf(this.handle.doc, 'elements')).sort(([, a], [, b]) => a.z - b.z)
  }

  locked(): boolean {
    return isLocked(this.handle.doc)
  }

  draw(element: Omit<BoardElement, 'z'>): string {
    const key = elementKey(this.handle.session.user.sub)
    this.handle.write(`elements/${key}`, (doc) => drawElement(doc, key, element))
    return key
  }
}
