// Typed accessors per surface, on top of a Session. Each write checks the same rule the server
// applies (Handle.write throws NotAllowed instead of sending a change the server would refuse).
import * as Y from 'yjs'
import { arrayOf, mapOf } from '../common.ts'
import { unreadCount, type InboxItem } from '../surfaces/inbox/surface.ts'
import type { BoardElement } from '../surfaces/board/surface.ts'
import type { CommentAnchor, DocComment } from '../surfaces/doc/surface.ts'
import type { Handle, Session } from './session.ts'

export type { BoardElement, CommentAnchor, DocComment }

const newId = (): string => `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`
const entries = <T>(map: Y.Map<unknown>): Array<[string, T]> => [...map.entries()] as Array<[string, T]>

/** `s/inbox/<user>`: notifications and the unread badge. */
export class InboxClient {
  readonly handle: Handle

  constructor(session: Session, school: string) {
    this.handle = session.open(`${school}/inbox/${session.user.sub}`)
  }

  items(): Array<InboxItem & { id: string; read: boolean }> {
    const read = mapOf(this.handle.doc, 'read')
    return entries<InboxItem>(mapOf(this.handle.doc, 'items'))
      .map(([id, item]) => ({ ...item, id, read: read.has(id) }))
      .sort((a, b) => new Date(b.at).getTime() - new Date(a.at).getTime())
  }

  unread(): number {
    return unreadCount(this.handle.doc)
  }

  markRead(id: string): void {
    this.handle.write(`read/${id}`, (doc) => doc.getMap('read').set(id, Date.now()))
  }
}

/** `s/board/<id>`: a whiteboard; each user's elements are keyed `<user>:<id>`. */
export class BoardClient {
  readonly handle: Handle

  constructor(session: Session, name: string) {
    this.handle = session.open(name)
  }

  elements(): Array<[string, BoardElement]> {
    return entries<BoardElement>(mapOf(this.handle.doc, 'elements')).sort(([, a], [, b]) => a.z - b.z)
  }

  locked(): boolean {
    return mapOf(this.handle.doc, 'meta').get('locked') === true
  }

  draw(element: Omit<BoardElement, 'z'>): string {
    const key = `${this.handle.session.user.sub}:${newId()}`
    this.handle.write(`elements/${key}`, (doc) => doc.getMap('elements').set(key, { ...element, z: Date.now() }))
    return key
  }
}

/** `s/doc/<id>`: bind `fragment` to an editor; comments are keyed `<author>:<id>`. */
export class DocClient {
  readonly handle: Handle

  constructor(session: Session, name: string) {
    this.handle = session.open(name)
  }

  get fragment(): Y.XmlFragment {
    return this.handle.doc.getXmlFragment('body')
  }

  comments(): Array<[string, DocComment]> {
    return entries<DocComment>(mapOf(this.handle.doc, 'comments'))
  }

  comment(text: string, anchor?: CommentAnchor): string {
    const key = `${this.handle.session.user.sub}:${newId()}`
    this.handle.write(`comments/${key}`, (doc) => doc.getMap('comments').set(key, { text, at: Date.now(), ...(anchor === undefined ? {} : { anchor }) }))
    return key
  }

  resolve(key: string): void {
    const current = mapOf(this.handle.doc, 'comments').get(key) as DocComment | undefined
    if (!current) return
    this.handle.write(`comments/${key}`, (doc) => doc.getMap('comments').set(key, { ...current, resolved: true }))
  }
}

export type ActivityState = 'active' | 'idle' | 'away'

/** `s/class/<id>`: students report their activity; teachers read the stats and send actions. */
export class ClassClient {
  readonly handle: Handle

  constructor(session: Session, school: string, id: string) {
    this.handle = session.open(`${school}/class/${id}`)
  }

  activity(): Array<[string, { state: ActivityState; page?: string; handRaised?: boolean; at: number | string }]> {
    return entries(mapOf(this.handle.doc, 'activity'))
  }

  stats(): { active?: number; idle?: number; away?: number; participation?: number } {
    return mapOf(this.handle.doc, 'stats').toJSON()
  }

  report(state: ActivityState, options: { page?: string; handRaised?: boolean } = {}): void {
    const me = this.handle.session.user.sub
    this.handle.write(`activity/${me}`, (doc) => doc.getMap('activity').set(me, { state, at: Date.now(), ...options }))
  }

  /** Teachers: ask every screen to focus on a page, or lock them. */
  act(action: 'focus' | 'lock', value: string | boolean | null): void {
    this.handle.write(`actions/${action}`, (doc) => doc.getMap('actions').set(action, value))
  }
}
