// A seeded multi-user editing session of a rich-text body whose per-user contributions are known:
// each user writes under a Yjs client id of their own, and a parallel list of authors per
// paragraph follows every insert and delete, so inserted, deleted and present characters are
// counted as they happen, independently of the journal. Used by the contributions tests and bench.
import * as Y from 'yjs'
import { Rng } from './random.ts'

export interface KnownCounts {
  inserted: number
  deleted: number
  present: number
}

export interface EditStep {
  user: string
  client: number
  update: Uint8Array
}

export class EditingSession {
  readonly doc = new Y.Doc()
  readonly users: string[]
  readonly clients = new Map<string, number>()
  readonly counts = new Map<string, KnownCounts>()
  /** The author of each live character, per paragraph, in order. */
  private readonly authors: string[][] = []
  private readonly rng: Rng
  private pending: Uint8Array | undefined
  /** Where each user types next: a paragraph and a position in it. */
  private readonly cursors = new Map<string, { p: number; i: number }>()
  /** Each format applied is a new value, so that it always changes something. */
  private formats = 0

  constructor(seed: string, users: string[]) {
    this.rng = new Rng(seed)
    this.users = users
    users.forEach((user, i) => {
      this.clients.set(user, 1000 + i)
      this.counts.set(user, { inserted: 0, deleted: 0, present: 0 })
    })
    this.doc.on('update', (update: Uint8Array) => (this.pending = update))
  }

  /** Every user reconnects (after a restart, say): each gets a new client id, as a new provider would. */
  reconnect(base: number): void {
    this.users.forEach((user, i) => this.clients.set(user, base + i))
  }

  private get body(): Y.XmlFragment {
    return this.doc.getXmlFragment('body')
  }

  /** Runs `change` as `user` (under their client id) and returns the update it made. */
  private as(user: string, change: () => void): EditStep {
    this.doc.clientID = this.clients.get(user)!
    this.pending = undefined
    this.doc.transact(change)
    if (!this.pending) throw new Error('the step changed nothing')
    return { user, client: this.doc.clientID, update: this.pending }
  }

  /**
   * One random edit by a random user, as people type: mostly at their cursor (typing on, or
   * backspacing over whoever wrote there), now and then elsewhere; a paragraph added; a word
   * given a colour (not characters). Others' edits do not move a cursor; it is kept in range.
   */
  step(): EditStep {
    const user = this.users[this.rng.int(this.users.length)]
    const roll = this.rng.next()
    if (this.authors.length === 0 || roll < 0.04) return this.addParagraph(user)
    let cursor = this.cursors.get(user)
    if (!cursor || cursor.p >= this.authors.length || roll < 0.12) {
      const p = this.rng.int(this.authors.length)
      cursor = { p, i: this.rng.int(this.authors[p].length + 1) }
      this.cursors.set(user, cursor)
    }
    const { p } = cursor
    const text = this.textOf(p)
    const authors = this.authors[p]
    cursor.i = Math.min(cursor.i, authors.length)
    if (roll < 0.17 && authors.length > 0) {
      const index = this.rng.int(authors.length)
      const length = Math.min(authors.length - index, 1 + this.rng.int(5))
      return this.as(user, () => text.format(index, length, { color: `c${this.formats++}` }))
    }
    if (roll < 0.32 && cursor.i > 0) {
      const length = Math.min(cursor.i, 1 + this.rng.int(3))
      const index = (cursor.i -= length)
      return this.as(user, () => {
        text.delete(index, length)
        for (const author of authors.splice(index, length)) this.counts.get(author)!.present--
        this.counts.get(user)!.deleted += length
      })
    }
    const index = cursor.i
    const typed = 'abcdefghij'.slice(0, 1 + this.rng.int(4))
    cursor.i += typed.length
    return this.as(user, () => {
      text.insert(index, typed)
      authors.splice(index, 0, ...Array.from(typed, () => user))
      const counts = this.counts.get(user)!
      counts.inserted += typed.length
      counts.present += typed.length
    })
  }

  private addParagraph(user: string): EditStep {
    return this.as(user, () => {
      const paragraph = new Y.XmlElement('paragraph')
      paragraph.insert(0, [new Y.XmlText()])
      this.body.insert(this.body.length, [paragraph])
      this.authors.push([])
    })
  }

  private textOf(p: number): Y.XmlText {
    return (this.body.get(p) as Y.XmlElement).get(0) as Y.XmlText
  }

  /** The text of each paragraph with who wrote each character, joined as contributions' runs are. */
  authoredText(): Array<{ user: string; char: string }> {
    const out: Array<{ user: string; char: string }> = []
    this.authors.forEach((authors, p) => {
      const text = (this.textOf(p).toDelta() as Array<{ insert: string }>).map((d) => d.insert).join('')
      authors.forEach((user, i) => out.push({ user, char: text[i] }))
    })
    return out
  }
}
