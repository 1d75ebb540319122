// Facts the write rules consult beyond the document being written: the state of related
// documents (a ballot's poll, an exam student's exam) and freezes the server declares.
// A related document that is loaded here is read live; one that is not is read from storage,
// forgotten when it next unloads here, and read again once it is older than a few seconds (another
// instance may hold it loaded and change it).
import type * as Y from 'yjs'
import type { Facts, Peek } from '../docs-model/types.ts'

/** Unloaded related documents kept at most; the oldest is dropped first. */
const MAX_CACHED = 1000
/** A copy read from storage is read again when it is older than this. */
const FRESH_MS = 5000

export class RelatedDocs {
  private readonly live: (name: string) => Y.Doc | undefined
  private readonly peek: Peek
  private readonly cached = new Map<string, { doc: Y.Doc; at: number }>()
  private readonly loading = new Map<string, Promise<void>>()
  /** Bumped when a document unloads, so a read from storage that raced with it is not kept. */
  private readonly generation = new Map<string, number>()
  private readonly freezes = new Map<string, string>()
  readonly facts: Facts

  /** `live` finds a loaded document; `peek` reads any document's current state. */
  constructor(live: (name: string) => Y.Doc | undefined, peek: Peek) {
    this.live = live
    this.peek = peek
    this.facts = {
      frozen: (name) => this.freezes.get(name) ?? null,
      related: (name) => this.live(name) ?? this.cached.get(name)?.doc,
    }
  }

  /** Makes `related(name)` answer for each name. */
  async load(names: readonly string[]): Promise<void> {
    await Promise.all(names.map((name) => this.loadOne(name)))
  }

  /** A document unloaded: its stored state may now be newer than any copy we hold. */
  forget(name: string): void {
    this.cached.delete(name)
    this.generation.set(name, (this.generation.get(name) ?? 0) + 1)
  }

  /** Server-side freezes (for example an exam ended by a timer before its document says so). */
  freeze(name: string, reason: string): void {
    this.freezes.set(name, reason.startsWith('frozen:') ? reason : `frozen: ${reason}`)
  }

  thaw(name: string): void {
    this.freezes.delete(name)
  }

  private loadOne(name: string): Promise<void> {
    const copy = this.cached.get(name)
    if (this.live(name) || (copy && Date.now() - copy.at < FRESH_MS)) return Promise.resolve()
    let pending = this.loading.get(name)
    if (!pending) {
      const generation = this.generation.get(name) ?? 0
      const at = Date.now()
      pending = this.peek(name)
        .then((doc) => {
          if ((this.generation.get(name) ?? 0) !== generation || this.live(name) === doc) return
          this.cached.delete(name)
          this.cached.set(name, { doc, at })
          if (this.cached.size > MAX_CACHED) this.cached.delete(this.cached.keys().next().value!)
        })
        .finally(() => this.loading.delete(name))
      this.loading.set(name, pending)
    }
    return pending
  }
}
