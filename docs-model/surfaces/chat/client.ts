// The typed clients of the conversation family, on a Session: reads through state.ts, writes
// through surface.ts, each write checked against the rule the server applies.
import { mapOf } from '../../common.ts'
import type { Handle, Session } from '../../client/session.ts'
import { joinGroup, leaveGroup, markRead, messagesOf, sendMessage, type ChatMessage } from './surface.ts'
import { groupMembers, readBy } from './state.ts'

/** How long a typing indicator lasts without being renewed. */
const TYPING_MS = 5000

/**
 * Conversations: `s/chat/<room>`, `s/dm/<a>~<b>`, `s/group/<id>`. Typing indicators travel as
 * presence. Messages are dated by the server's clock (`session.now()`): the server refuses a
 * message dated in the future, which a device clock running ahead would do.
 */
export class ChatClient {
  readonly handle: Handle

  constructor(session: Session, name: string) {
    this.handle = session.open(name)
  }

  protected get me(): string {
    return this.handle.session.user.sub
  }

  messages(): ChatMessage[] {
    return messagesOf(this.handle.doc)
  }

  send(text: string): ChatMessage {
    let id = ''
    this.handle.write('messages', (doc) => (id = sendMessage(doc, this.me, text, undefined, this.handle.session.now())))
    this.typing(false)
    return this.messages().findLast((m) => m.id === id)!
  }

  /** Marks everything up to `messageId` read (the read receipt others see). */
  markRead(messageId: string): void {
    if (mapOf(this.handle.doc, 'reads').get(this.me) === messageId) return
    this.handle.write(`reads/${this.me}`, (doc) => markRead(doc, this.me, messageId))
  }

  /** Users (other than me) who have read `messageId` or a later message. */
  readBy(messageId: string): string[] {
    return readBy(this.handle.doc, messageId, this.me)
  }

  typing(on: boolean): void {
    this.handle.awareness.setLocalStateField('typing', on ? Date.now() : null)
  }

  /** Names of the others typing in the last few seconds. */
  typers(): string[] {
    const recent = Date.now() - TYPING_MS
    const me = this.handle.doc.clientID
    return [...this.handle.awareness.getStates()]
      .filter(([client, state]) => client !== me && typeof state.typing === 'number' && state.typing > recent)
      .map(([, state]) => String((state.user as { name?: string } | undefined)?.name ?? 'someone'))
  }
}

/** `s/group/<id>`: a study group's conversation plus joining and leaving. */
export class GroupClient extends ChatClient {
  members(): string[] {
    return groupMembers(this.handle.doc)
  }

  join(): void {
    this.handle.write(`members/${this.me}`, (doc) => joinGroup(doc, this.me, this.handle.session.now()))
  }

  leave(): void {
    this.handle.write(`members/${this.me}`, (doc) => leaveGroup(doc, this.me), 'delete')
  }
}
