// The message archive's mover: when a conversation holds more than its surface keeps
// (KEPT_MESSAGES), the oldest messages are stored in the archive (server/message-archive.ts) and
// only then removed from the document, in one derived change. Coalesced per conversation; a
// repeated or concurrent run (another instance) stores nothing twice and removes only what is there.
import type { Homeroom } from '../../server/homeroom.ts'
import { messageArchive, type MessageArchive } from '../../server/message-archive.ts'
import { toMillis } from '../../docs-model/common.ts'
import { messagesOf } from '../../docs-model/surfaces/chat/surface.ts'
import { CONVERSATION_FAMILIES, KEPT_MESSAGES, overflowMessages } from '../../docs-model/surfaces/chat/state.ts'
import { Coalescer, derive, readDoc, report } from './runtime.ts'
import type { Change, Observer } from './registry.ts'

const MOVE_DELAY_MS = 200

export class MessageArchiveObserver implements Observer {
  readonly name = 'message-archive'
  readonly surfaces = CONVERSATION_FAMILIES
  private readonly app: Homeroom
  private readonly archive: MessageArchive
  private readonly moves: Coalescer

  constructor(app: Homeroom) {
    this.app = app
    this.archive = messageArchive(app.store)
    this.moves = new Coalescer(MOVE_DELAY_MS, (error) => report(app, this.name, error))
  }

  changed({ ref, doc }: Change): void {
    const keep = KEPT_MESSAGES[ref.surface as keyof typeof KEPT_MESSAGES]
    if (messagesOf(doc).length <= keep) return
    this.moves.request(ref.name, () => this.move(ref.name, keep))
  }

  stop(): void {
    this.moves.close()
  }

  private async move(name: string, keep: number): Promise<void> {
    const overflow = await readDoc(this.app, name, (doc) => overflowMessages(doc, keep))
    if (overflow.length === 0) return
    const now = this.app.clock.now()
    await this.archive.append(name, overflow, (m) => toMillis(m.at) ?? now)
    // Only the leading messages that are exactly what was archived leave the document.
    const archived = overflow.map((m) => JSON.stringify(m))
    await derive(this.app, this.name, name, (doc) => {
      const list = messagesOf(doc)
      let count = 0
      while (count < archived.length && count < list.length && JSON.stringify(list[count]) === archived[count]) count++
      if (count > 0) doc.getArray('messages').delete(0, count)
    })
  }
}
