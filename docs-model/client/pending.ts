// What a local copy holds that the server has not acknowledged. Kept cheaply as it goes, never by
// scanning the document: the state vector up to which the server has the copy's content (advanced
// to the whole copy each time the server has acknowledged everything it was sent, and by every
// update that came from the server), and the deletions made locally since. Whatever the copy has
// beyond that is pending: it may exist nowhere else.
import * as Y from 'yjs'

type DeleteSet = ReturnType<typeof Y.createDeleteSet>

export class Acknowledgement {
  /** Per client, the clock below which the server has the copy's structs. */
  private sv = new Map<number, number>()
  /** Deletions made here since the server last acknowledged everything. */
  private deletes: DeleteSet = Y.createDeleteSet()
  /** False until the server acknowledged something, or a stored record was read: then everything counts as pending. */
  private known = false

  /** A record stored by `encode()`, or nothing for a copy the server never acknowledged. */
  constructor(stored?: Uint8Array) {
    if (!stored) return
    const { sv, ds } = Y.decodeSnapshot(stored)
    this.sv = sv
    this.deletes = ds
    this.known = true
  }

  /** The server has acknowledged everything it was sent: the whole copy is the server's. */
  all(doc: Y.Doc): void {
    this.sv = Y.decodeStateVector(Y.encodeStateVector(doc))
    this.deletes = Y.createDeleteSet()
    this.known = true
  }

  /** An update that came from the server: its content is the server's. */
  fromServer(update: Uint8Array): void {
    for (const [client, clock] of Y.decodeStateVector(Y.encodeStateVectorFromUpdate(update))) {
      if (clock > (this.sv.get(client) ?? 0)) this.sv.set(client, clock)
    }
  }

  /** A local transaction deleted these; returns whether that changed the record. */
  localDeletes(deleted: DeleteSet): boolean {
    if (deleted.clients.size === 0) return false
    this.deletes = Y.mergeDeleteSets([this.deletes, deleted])
    return true
  }

  encode(): Uint8Array {
    return Y.encodeSnapshot(Y.createSnapshot(this.deletes, this.sv))
  }

  hasPending(doc: Y.Doc): boolean {
    if (!this.known) return doc.store.clients.size > 0
    if (this.deletes.clients.size > 0) return true
    for (const [client, clock] of Y.decodeStateVector(Y.encodeStateVector(doc))) if (clock > (this.sv.get(client) ?? 0)) return true
    return false
  }

  /** The pending changes as one Yjs update: applied to the server's copy (or any copy), it brings them back. */
  update(doc: Y.Doc): Uint8Array {
    return Y.encodeStateAsUpdate(doc, this.known ? Y.encodeStateVector(this.sv) : undefined)
  }

  /** Paths (`root/key`, or `root` for lists and text) of the pending changes: inserted content and deletions. */
  paths(doc: Y.Doc): string[] {
    if (!this.hasPending(doc)) return []
    const paths = new Set<string>()
    const add = (id: Y.ID) => {
      const struct = Y.getItem(doc.store, id)
      if (struct instanceof Y.Item) paths.add(pathOf(struct))
    }
    for (const struct of Y.decodeUpdate(this.update(doc)).structs) if (struct.id.clock >= (this.sv.get(struct.id.client) ?? 0)) add(struct.id)
    for (const [client, ranges] of this.deletes.clients) for (const { clock } of ranges) add(Y.createID(client, clock))
    return [...paths].sort()
  }
}

/** The root and, in a map, the key an integrated item lives under (two levels, as the write rules name them). */
function pathOf(item: Y.Item): string {
  const keys: string[] = []
  for (let current: Y.Item | null = item; current; ) {
    if (current.parentSub !== null) keys.unshift(current.parentSub)
    const parent = current.parent as Y.AbstractType<unknown>
    if (!parent._item) {
      keys.unshift(Y.findRootTypeKey(parent))
      break
    }
    current = parent._item
  }
  return keys.slice(0, 2).join('/')
}
