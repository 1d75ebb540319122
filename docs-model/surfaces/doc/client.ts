// The typed client of the doc family, on a Session: writes through surface.ts, each write
// checked against the rule the server applies.
import type * as Y from 'yjs'
import { entriesOf, mapOf } from '../../common.ts'
import type { Handle, Session } from '../../client/session.ts'
import { addComment, commentKey, resolveComment, type CommentAnchor, type DocComment } from './surface.ts'

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
    return entriesOf<DocComment>(mapOf(this.handle.doc, 'comments'))
  }

  comment(text: string, anchor?: CommentAnchor): string {
    const key = commentKey(this.handle.session.user.sub)
    this.handle.write(`comments/${key}`, (doc) => addComment(doc, key, text, anchor, this.handle.session.now()))
    return key
  }

  resolve(key: string): void {
    if (!mapOf(this.handle.doc, 'comments').has(key)) return
    this.handle.write(`comments/${key}`, (doc) => resolveComment(doc, key))
  }
}
