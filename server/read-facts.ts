// Documents that read decisions consult (a private chat's members, a group's members and
// invitations, an emergency's target roles, a ballot's poll). Opening attempts are cheap to make
// and may come by the hundred, so none of them may replay a document by itself: a document loaded
// here is read live; an unloaded one comes from a copy shared by every attempt. The caching is
// RelatedDocs' (single flight, bounded, dropped when the document loads or unloads here, looked at
// again when older than a few seconds, since another instance may change it); this adds two things.
// Looking again first asks the store whether anything was journaled since the copy (one indexed
// count), and replays only if so: a quiet document is replayed once however long a flood lasts.
// And a copy keeps only the document's map roots, which is where every read rule looks, so a
// chat's megabyte of messages is not held once per document.
import * as Y from 'yjs'
import type { afterLoadDocumentPayload, afterUnloadDocumentPayload, Extension } from '@hocuspocus/server'
import { resolve, type Peek } from '../docs-model/index.ts'
import { RelatedDocs } from './facts.ts'
import { replay } from './history/replay.ts'
import type { HistoryStore } from './store/types.ts'
import { EXTENSION_PRIORITY } from '../extensions/priorities.ts'

/** Reads again when a copy was dropped mid-read (the document loaded or unloaded meanwhile). */
const ATTEMPTS = 3

export class ReadFacts implements Extension {
  readonly extensionName = 'read-facts'
  readonly priority = EXTENSION_PRIORITY.readFacts
  private readonly live: (name: string) => Y.Doc | undefined
  private readonly store: HistoryStore
  private readonly copies: RelatedDocs
  /** The journal position each copy was read at. */
  private readonly versions = new WeakMap<Y.Doc, number>()

  /** `live` finds a loaded document. */
  constructor(live: (name: string) => Y.Doc | undefined, store: HistoryStore) {
    this.live = live
    this.store = store
    this.copies = new RelatedDocs(live, (name) => this.refresh(name))
  }

  /** The Peek read decisions use: the live document, or a recent copy of its map roots. */
  readonly peek: Peek = async (name) => {
    for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
      await this.copies.load([name])
      const doc = this.copies.facts.related(name)
      if (doc) return doc
    }
    // Still racing loads and unloads: this attempt reads on its own rather than wait longer.
    return this.live(name) ?? this.readStored(name)
  }

  /** Hocuspocus registers a document just after this hook, so a copy taken now is never used while it is loaded. */
  async afterLoadDocument({ documentName }: afterLoadDocumentPayload): Promise<void> {
    this.copies.forget(documentName)
  }

  async afterUnloadDocument({ documentName }: afterUnloadDocumentPayload): Promise<void> {
    this.copies.forget(documentName)
  }

  /** Called by RelatedDocs for a missing or old copy: the old one again when nothing was journaled since. */
  private async refresh(name: string): Promise<Y.Doc> {
    const previous = this.copies.facts.related(name)
    const seq = previous && this.versions.get(previous)
    if (seq !== undefined && (await this.store.countAfter(name, seq)) === 0) return previous!
    return this.readStored(name)
  }

  /** The stored document's map roots (nested types cloned, so values read exactly as in the live document). */
  private async readStored(name: string): Promise<Y.Doc> {
    const { doc, seq } = await replay(this.store, name)
    let maps: string[]
    try {
      maps = Object.entries(resolve(name).surface.layout)
        .filter(([, root]) => root.kind === 'map')
        .map(([root]) => root)
    } catch {
      this.versions.set(doc, seq)
      return doc // not a name of a known surface: keep everything
    }
    const copy = new Y.Doc()
    copy.transact(() => {
      for (const root of maps) {
        let source: Y.Map<unknown>
        try {
          source = doc.getMap(root)
        } catch {
          continue // stored as another kind: the read rules see it as missing there too
        }
        const target = copy.getMap(root)
        for (const [key, value] of source) target.set(key, value instanceof Y.AbstractType ? value.clone() : value)
      }
    })
    doc.destroy()
    this.versions.set(copy, seq)
    return copy
  }
}
