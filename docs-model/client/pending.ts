// What a local copy holds that the server has not acknowledged. The handle records a snapshot
// (state vector and delete set) whenever the server has acknowledged everything it was sent;
// whatever the copy has beyond that snapshot is pending: it may exist nowhere else.
import * as Y from 'yjs'

/** Everything in `doc` beyond `acknowledged` (everything, when the server never acknowledged anything). */
export function hasPending(doc: Y.Doc, acknowledged: Y.Snapshot | undefined): boolean {
  if (!acknowledged) return doc.store.clients.size > 0
  return !Y.equalSnapshots(acknowledged, Y.snapshot(doc))
}

/** The pending changes as one Yjs update: applied to the server's copy (or any copy), it brings them back. */
export function pendingUpdate(doc: Y.Doc, acknowledged: Y.Snapshot | undefined): Uint8Array {
  return Y.encodeStateAsUpdate(doc, acknowledged ? Y.encodeStateVector(acknowledged.sv) : undefined)
}

/** Paths (`root/key`, or `root` for lists and text) of the pending changes: inserted content and deletions. */
export function pendingPaths(doc: Y.Doc, acknowledged: Y.Snapshot | undefined): string[] {
  if (!hasPending(doc, acknowledged)) return []
  const paths = new Set<string>()
  const add = (id: Y.ID) => {
    const struct = Y.getItem(doc.store, id)
    if (struct instanceof Y.Item) paths.add(pathOf(struct))
  }
  for (const struct of Y.decodeUpdate(pendingUpdate(doc, acknowledged)).structs) add(struct.id)
  const deleted = Y.snapshot(doc).ds
  for (const [client, ranges] of deleted.clients) {
    for (const { clock } of ranges) if (!acknowledged || !Y.isDeleted(acknowledged.ds, Y.createID(client, clock))) add(Y.createID(client, clock))
  }
  return [...paths].sort()
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
