// Message notices: a new chat, dm or group message puts an inbox item in the inbox of each member
// of the conversation (docs-model/surfaces/chat/state.ts: conversationMembers) who is not
// connected to it, once per conversation and quiet period (messageNotice). Only the instance
// whose client sent the message announces it; members connected on another instance are seen
// through their presence, which Redis shares.
import type * as Y from 'yjs'
import type { Homeroom } from '../../server/homeroom.ts'
import { contextOf } from '../../server/context.ts'
import { toMillis } from '../../docs-model/common.ts'
import type { DocRef } from '../../docs-model/types.ts'
import { messagesOf, type ChatMessage } from '../../docs-model/surfaces/chat/surface.ts'
import { CONVERSATION_FAMILIES, conversationMembers, messageNotice } from '../../docs-model/surfaces/chat/state.ts'
import { contain, notify } from './runtime.ts'
import type { Change, Observer } from './registry.ts'

export class MessageNoticeObserver implements Observer {
  readonly name = 'message-notices'
  readonly surfaces = CONVERSATION_FAMILIES
  private readonly app: Homeroom
  /** Per loaded conversation: the newest message time already seen, so only new messages notify. */
  private readonly newest = new Map<string, number>()

  constructor(app: Homeroom) {
    this.app = app
  }

  loaded(ref: DocRef, doc: Y.Doc): void {
    this.newest.set(ref.name, newestAt(messagesOf(doc)))
  }

  unloaded(ref: DocRef): void {
    this.newest.delete(ref.name)
  }

  changed({ ref, doc, source }: Change): void {
    const messages = messagesOf(doc)
    const seen = this.newest.get(ref.name) ?? Number.NEGATIVE_INFINITY
    const fresh = messages.filter((m) => (toMillis(m.at) ?? Number.NEGATIVE_INFINITY) > seen)
    if (fresh.length === 0) return
    this.newest.set(ref.name, newestAt(messages))
    if (source !== 'client') return
    void contain(this.app, 'message-notices', () => this.announce(ref, doc, fresh))
  }

  private async announce(ref: DocRef, doc: Y.Doc, fresh: ChatMessage[]): Promise<void> {
    const present = presentUsers(this.app, ref.name)
    const now = this.app.clock.now()
    for (const message of fresh) {
      const away = conversationMembers(ref, doc).filter((user) => user !== message.author && !present.has(user))
      if (away.length === 0) continue
      const { id, item } = messageNotice(ref, doc, message, now)
      await notify(this.app, ref.school, away, id, item)
    }
  }
}

function newestAt(messages: readonly ChatMessage[]): number {
  return messages.reduce((newest, m) => Math.max(newest, toMillis(m.at) ?? Number.NEGATIVE_INFINITY), Number.NEGATIVE_INFINITY)
}

/** Users connected to the document here, or present in its awareness (which carries other instances' users). */
function presentUsers(app: Homeroom, name: string): Set<string> {
  const present = new Set<string>()
  const document = app.hocuspocus.documents.get(name)
  for (const connection of document?.getConnections() ?? []) {
    const user = contextOf(connection.context)?.user.sub
    if (user) present.add(user)
  }
  for (const state of document?.awareness.getStates().values() ?? []) {
    const id = (state as { user?: { id?: unknown } }).user?.id
    if (typeof id === 'string') present.add(id)
  }
  return present
}
