// The typed client of the inbox family, on a Session: reads through state.ts, writes through
// surface.ts, each write checked against the rule the server applies.
import type { Handle, Session } from '../../client/session.ts'
import { dismissItem, inboxName, markItemRead, unreadCount, type InboxItem } from './surface.ts'
import { inboxItems } from './state.ts'

/** `s/inbox/<user>`: notifications and the unread badge. */
export class InboxClient {
  readonly handle: Handle

  constructor(session: Session, school: string) {
    this.handle = session.open(inboxName(school, session.user.sub))
  }

  items(): Array<InboxItem & { id: string; read: boolean }> {
    return inboxItems(this.handle.doc)
  }

  unread(): number {
    return unreadCount(this.handle.doc)
  }

  markRead(id: string): void {
    this.handle.write(`read/${id}`, (doc) => markItemRead(doc, id, this.handle.session.now()))
  }

  /** Puts an item away: it leaves the list and the badge. */
  dismiss(id: string): void {
    this.handle.write(`dismissed/${id}`, (doc) => dismissItem(doc, id))
  }

  /** Marks every unread item read, in one change. */
  markAllRead(): void {
    const unread = this.items().filter((item) => !item.read)
    if (unread.length === 0) return
    this.handle.write('read', (doc) => {
      for (const { id } of unread) markItemRead(doc, id, this.handle.session.now())
    })
  }
}
