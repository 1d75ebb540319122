// Who wrote what: per user, the characters (rich text, text) or elements (boards) they inserted,
// deleted and still have in the document, with their first and last edit, and the current text
// split into runs by author. Built from the journal's attribution: each struct an entry writes
// belongs to the owner of its Yjs client id (the client-owner store: the user who first wrote
// under it, shared by every instance and kept across restarts), or, for ids nobody owns (the
// server's own writes: restores, imports, observers), to the entry's user. Deletions belong to
// the user of the entry whose delete set first removed them.
//
// The journal is read once, without building its updates (struct-ranges.ts); the state at `at`
// (snapshot plus tail, the one replay) gives document order for runs and the board's elements.
// When history before a snapshot was dropped, the oldest kept snapshot stands in for it: its
// structs still belong to their client ids' owners, but who deleted what before it is unknown.
import * as Y from 'yjs'
import { resolve } from '../../docs-model/registry.ts'
import type { Surface } from '../../docs-model/types.ts'
import type { ClientOwnerStore, HistoryStore, JournalEntry, JournalStore } from '../store/types.ts'
import { stateAt } from './replay.ts'
import { readRanges, UpdateRanges } from './struct-ranges.ts'
import { checkedBounds } from './time.ts'

export type ContributionUnit = 'characters' | 'elements'

export interface Contribution {
  user: string
  inserted: number
  deleted: number
  present: number
  /** Times (ms) of the user's first and last stored entry; edits before history start count at its start. */
  firstEdit: number
  lastEdit: number
}

export interface AuthorRun {
  user: string
  text: string
}

export interface Contributions {
  name: string
  at?: number
  unit: ContributionUnit
  /** Most present first, then most inserted, then by name. */
  users: Contribution[]
  /** The current text in document order, split where the author changes (empty for boards). */
  runs: AuthorRun[]
}

/** Thrown for a document that has nothing contributions count (a poll, a chat). */
export class NoContributionsError extends Error {}

/** The name under which structs of an id nobody owns, written before history starts, are counted. */
export const UNKNOWN_AUTHOR = 'unknown'

/** What counts in a document: its characters when it has text, a board's elements, else nothing. */
export function contributionUnit(surface: Surface): ContributionUnit | undefined {
  const roots = Object.values(surface.layout)
  if (roots.some((r) => r.kind === 'xml' || r.kind === 'text')) return 'characters'
  if (surface.layout.elements?.kind === 'map') return 'elements'
  return undefined
}

/** A run of clocks of one client from `start`, written by one entry user (`client`: through a client connection). */
interface Segment {
  start: number
  user: string
  viaClient: boolean
}

interface Interval {
  start: number
  end: number
}

interface Deletion extends Interval {
  /** Who deleted it; null before history starts. */
  user: string | null
}

/** Everything the journal says about one Yjs client id. */
class ClientLedger {
  /** Owners of its clocks, in clock order (one segment per change of entry user). */
  readonly segments: Segment[] = []
  /** Its text characters, in clock order, disjoint. */
  readonly text: Interval[] = []
  /** Its clocks deleted so far, disjoint and sorted, each with who first deleted it. */
  readonly deleted: Deletion[] = []
  /** The first clock not seen yet: an entry repeating structs (a resent update) adds nothing. */
  next = 0

  addStruct(clock: number, length: number, text: boolean, user: string, viaClient: boolean): void {
    const end = clock + length
    if (end <= this.next) return
    const start = Math.max(clock, this.next)
    this.next = end
    const last = this.segments.at(-1)
    if (!last || last.user !== user || last.viaClient !== viaClient) this.segments.push({ start, user, viaClient })
    if (!text) return
    const lastText = this.text.at(-1)
    if (lastText && lastText.end === start) lastText.end = end
    else this.text.push({ start, end })
  }

  /** Records `[start, end)` as deleted by `user` where it was not deleted yet. */
  addDeletion(start: number, end: number, user: string | null): void {
    const list = this.deleted
    const fresh: Deletion[] = []
    let cursor = start
    for (let j = firstEndingAfter(list, start); j < list.length && list[j].start < end; j++) {
      if (list[j].start > cursor) fresh.push({ start: cursor, end: list[j].start, user })
      cursor = Math.max(cursor, list[j].end)
    }
    if (cursor < end) fresh.push({ start: cursor, end, user })
    for (const piece of fresh) {
      const i = firstEndingAfter(list, piece.start)
      const previous = list[i - 1]
      // A user deleting on from where they last did extends that deletion.
      if (previous && previous.end === piece.start && previous.user === user) previous.end = piece.end
      else list.splice(i, 0, piece)
    }
  }

  /** The index of the segment holding `clock` (-1: none). */
  segmentIndex(clock: number): number {
    const list = this.segments
    let [lo, hi] = [0, list.length]
    while (lo < hi) {
      const mid = (lo + hi) >> 1
      if (list[mid].start <= clock) lo = mid + 1
      else hi = mid
    }
    return lo - 1
  }

  /** The owner segment of `clock`, and where the next one starts. */
  segmentAt(clock: number): { segment?: Segment; end: number } {
    const i = this.segmentIndex(clock)
    return { segment: this.segments[i], end: this.segments[i + 1]?.start ?? Infinity }
  }

  /** Who deleted `clock`, when it is deleted (null: before history starts). */
  deletionAt(clock: number): Deletion | undefined {
    const i = firstEndingAfter(this.deleted, clock)
    const d = this.deleted[i]
    return d && d.start <= clock ? d : undefined
  }
}

/** The index of the first interval whose end is after `clock` (intervals sorted and disjoint). */
function firstEndingAfter(list: readonly Interval[], clock: number): number {
  let [lo, hi] = [0, list.length]
  while (lo < hi) {
    const mid = (lo + hi) >> 1
    if (list[mid].end <= clock) lo = mid + 1
    else hi = mid
  }
  return lo
}

/** The journal read into ledgers, and each user's first and last entry. */
class Attribution {
  readonly ledgers = new Map<number, ClientLedger>()
  readonly edits = new Map<string, { first: number; last: number }>()
  /** One buffer for every update read. */
  private readonly ranges = new UpdateRanges()
  /** Owners from the client-owner store, filled by `resolveOwners`. */
  private readonly owners = new Map<number, string>()

  ledger(client: number): ClientLedger {
    let ledger = this.ledgers.get(client)
    if (!ledger) this.ledgers.set(client, (ledger = new ClientLedger()))
    return ledger
  }

  /** Reads one update (an entry, or the state history starts from); false when it is not a readable update. */
  read(update: Uint8Array, user: string | null, viaClient: boolean): boolean {
    const ranges = this.ranges
    try {
      readRanges(update, ranges)
    } catch {
      return false // the loader quarantines what it cannot read; it is not in the document either
    }
    const { structs, deletes } = ranges
    const author = user ?? UNKNOWN_AUTHOR
    for (let i = 0; i < structs.length; i += 4) this.ledger(structs[i]).addStruct(structs[i + 1], structs[i + 2], structs[i + 3] === 1, author, viaClient)
    for (let i = 0; i < deletes.length; i += 3) this.ledger(deletes[i]).addDeletion(deletes[i + 1], deletes[i + 1] + deletes[i + 2], user)
    return true
  }

  entry(entry: JournalEntry): void {
    const user = entry.user ?? entry.origin
    if (!this.read(entry.update, user, entry.origin === 'client')) return
    const edit = this.edits.get(user)
    if (edit) edit.last = entry.at
    else this.edits.set(user, { first: entry.at, last: entry.at })
  }

  /** Reads the owners of the ids written through clients, and of `others` (ids of a live document the journal may not hold yet). */
  async resolveOwners(store: ClientOwnerStore, name: string, others: readonly number[]): Promise<void> {
    const viaClients = [...this.ledgers].filter(([, l]) => l.segments.some((s) => s.viaClient)).map(([client]) => client)
    const extra = others.filter((client) => !this.ledgers.has(client))
    // Owners never change (the first writer keeps an id): only ids not known yet are asked for.
    const unknown = [...viaClients, ...extra].filter((client) => !this.owners.has(client))
    for (const [client, owner] of await store.clientOwners(name, unknown)) this.owners.set(client, owner)
  }

  /** Who a segment's structs belong to: its client id's owner when written through a client, else the entry's user. */
  ownerOf(client: number, segment: Segment | undefined): string {
    if (!segment) return this.owners.get(client) ?? UNKNOWN_AUTHOR
    return (segment.viaClient ? this.owners.get(client) : undefined) ?? segment.user
  }
}

class Tally {
  readonly users = new Map<string, Contribution>()
  private readonly edits: Attribution['edits']
  private readonly historyStart: number
  constructor(edits: Attribution['edits'], historyStart: number) {
    this.edits = edits
    this.historyStart = historyStart
  }

  of(user: string): Contribution {
    let row = this.users.get(user)
    if (!row) {
      const edit = this.edits.get(user)
      row = { user, inserted: 0, deleted: 0, present: 0, firstEdit: edit?.first ?? this.historyStart, lastEdit: edit?.last ?? this.historyStart }
      this.users.set(user, row)
    }
    return row
  }

  sorted(): Contribution[] {
    for (const user of this.edits.keys()) this.of(user)
    return [...this.users.values()].sort((a, b) => b.present - a.present || b.inserted - a.inserted || a.user.localeCompare(b.user))
  }
}

/** Characters: each client's text intervals against its deletions, split by owner and deleter. */
function countCharacters(attribution: Attribution, tally: Tally): void {
  for (const [client, ledger] of attribution.ledgers) {
    for (const interval of ledger.text) {
      // Split the interval where its owner changes, then where deletions start and end.
      let at = interval.start
      while (at < interval.end) {
        const { segment, end: segmentEnd } = ledger.segmentAt(at)
        const end = Math.min(interval.end, segmentEnd)
        const owner = tally.of(attribution.ownerOf(client, segment))
        owner.inserted += end - at
        let deleted = 0
        for (let i = firstEndingAfter(ledger.deleted, at); i < ledger.deleted.length && ledger.deleted[i].start < end; i++) {
          const d = ledger.deleted[i]
          const overlap = Math.min(end, d.end) - Math.max(at, d.start)
          deleted += overlap
          if (d.user !== null) tally.of(d.user).deleted += overlap
        }
        owner.present += end - at - deleted
        at = end
      }
    }
  }
}

/** The owner of one clock of a client. */
function ownerAt(attribution: Attribution, client: number, clock: number): string {
  return attribution.ownerOf(client, attribution.ledgers.get(client)?.segmentAt(clock).segment)
}

/** Elements: each key of the board's `elements` belongs to whoever first wrote it; removed when its latest value is deleted. */
function countElements(attribution: Attribution, tally: Tally, doc: Y.Doc): void {
  const elements = doc.getMap('elements') as unknown as { _map: Map<string, Y.Item> }
  for (const latest of elements._map.values()) {
    let first = latest
    while (first.left instanceof Y.Item) first = first.left
    const creator = tally.of(ownerAt(attribution, first.id.client, first.id.clock))
    creator.inserted++
    if (!latest.deleted) {
      creator.present++
      continue
    }
    const deleter = attribution.ledgers.get(latest.id.client)?.deletionAt(latest.id.clock)?.user
    if (deleter) tally.of(deleter).deleted++
  }
}

/** The text of `doc`'s text roots in document order, in runs of one author. */
function authorRuns(attribution: Attribution, doc: Y.Doc, surface: Surface): AuthorRun[] {
  const runs: AuthorRun[] = []
  const add = (user: string, text: string) => {
    const last = runs.at(-1)
    if (last && last.user === user) last.text += text
    else runs.push({ user, text })
  }
  /** A line break between blocks belongs to the run before it. */
  const lineBreak = () => {
    const last = runs.at(-1)
    if (last && !last.text.endsWith('\n')) last.text += '\n'
  }
  const text = (type: Y.Text) => {
    for (let item = type._start; item !== null; item = item.right) {
      if (item.deleted || !(item.content instanceof Y.ContentString)) continue
      const ledger = attribution.ledgers.get(item.id.client)
      const str = item.content.str
      // One item may span clocks of two entry users (the server's own id): split it where the owner changes.
      let offset = 0
      while (offset < str.length) {
        const clock = item.id.clock + offset
        const { segment, end: segmentEnd } = ledger?.segmentAt(clock) ?? { end: Infinity }
        const end = Math.min(str.length, segmentEnd - item.id.clock)
        add(attribution.ownerOf(item.id.client, segment), str.slice(offset, end))
        offset = end
      }
    }
  }
  const fragment = (type: Y.XmlFragment | Y.XmlElement) => {
    const children = type.toArray()
    children.forEach((child, i) => {
      if (child instanceof Y.XmlText) text(child)
      else if (child instanceof Y.XmlElement) {
        fragment(child)
        if (i < children.length - 1) lineBreak()
      }
    })
  }
  for (const [key, root] of Object.entries(surface.layout)) {
    if (root.kind === 'xml') fragment(doc.getXmlFragment(key))
    else if (root.kind === 'text') text(doc.getText(key))
  }
  return runs
}

/** Entries read per query: large pages, as every entry is read (fewer round trips; the page is dropped once read). */
const JOURNAL_PAGE = 5000

/** The journal up to `at` (a prefix, as replay takes it) read into `attribution`, after `seq`; returns the last sequence number read. */
async function readJournal(store: JournalStore, name: string, attribution: Attribution, seq: number, at?: number): Promise<number> {
  for (let last = seq; ; ) {
    const page = await store.entriesPage(name, last, JOURNAL_PAGE)
    for (const entry of page) {
      if (at !== undefined && entry.at > at) return last
      attribution.entry(entry)
      last = entry.seq
    }
    if (page.length < JOURNAL_PAGE) return last
  }
}

/** A fresh attribution: from the oldest kept snapshot when history before it was dropped. */
async function startAttribution(store: HistoryStore, name: string, base: { seq: number } | undefined): Promise<{ attribution: Attribution; seq: number }> {
  const attribution = new Attribution()
  if (!base) return { attribution, seq: 0 }
  // History before this snapshot is gone: its state stands in for it.
  const snapshot = await store.readSnapshot(name, base.seq)
  if (snapshot) attribution.read(snapshot.state, null, true)
  return { attribution, seq: snapshot?.seq ?? 0 }
}

/**
 * The whole journal's attribution, kept per store and document for the next call, which then
 * reads only the entries after it: a panel that refreshes costs the new entries. Reading an entry
 * again adds nothing (a merged entry repeats ones read before), so only dropped history (a new
 * base snapshot) starts it over. Calls for one document take turns.
 */
class AttributionCache {
  private readonly entries = new Map<string, { attribution: Attribution; seq: number; base: number; turn: Promise<unknown> }>()
  private static readonly KEPT = 16

  async current(store: HistoryStore, name: string, base: { seq: number } | undefined): Promise<Attribution> {
    let cached = this.entries.get(name)
    // History dropped since: start over from the new base, so every instance gives the same answer.
    if (cached && (base?.seq ?? 0) !== cached.base) cached = undefined
    if (!cached) {
      cached = { ...(await startAttribution(store, name, base)), base: base?.seq ?? 0, turn: Promise.resolve() }
      this.entries.set(name, cached)
    }
    // Most recently used last; the oldest goes beyond KEPT.
    this.entries.delete(name)
    this.entries.set(name, cached)
    if (this.entries.size > AttributionCache.KEPT) this.entries.delete(this.entries.keys().next().value!)
    const entry = cached
    const turn = entry.turn.then(async () => {
      entry.seq = await readJournal(store, name, entry.attribution, entry.seq)
    })
    entry.turn = turn.catch(() => undefined)
    await turn
    return entry.attribution
  }
}

const caches = new WeakMap<object, AttributionCache>()

/** The attribution up to `at` (now when omitted: from the cache). */
async function attributionAt(store: HistoryStore, name: string, base: { seq: number } | undefined, at?: number): Promise<Attribution> {
  if (at === undefined) {
    let cache = caches.get(store)
    if (!cache) caches.set(store, (cache = new AttributionCache()))
    return cache.current(store, name, base)
  }
  const { attribution, seq } = await startAttribution(store, name, base)
  await readJournal(store, name, attribution, seq, at)
  return attribution
}

/**
 * Who wrote what in `name`, now or as it was at `at`. `live`: the loaded document, read for
 * the current state instead of replaying it (a change not journaled yet is credited to its
 * client id's owner). `runs: false` leaves the runs out: counting characters then needs no
 * state, so nothing is replayed (the command line's table).
 */
export async function contributions(store: HistoryStore & ClientOwnerStore, name: string, at?: number, live?: Y.Doc, options: { runs?: boolean } = {}): Promise<Contributions> {
  const { surface } = resolve(name)
  const unit = contributionUnit(surface)
  if (!unit) throw new NoContributionsError(`${name} has neither text nor board elements: contributions count characters or elements`)
  const bounds = await checkedBounds(store, name, at)
  const withRuns = unit === 'characters' && options.runs !== false
  const useLive = at === undefined && live !== undefined
  // Characters without runs are counted from the journal alone: no state is replayed.
  const replayed = !useLive && (withRuns || unit === 'elements')
  // The journal and the state are read side by side (PostgreSQL answers both at once).
  const [journal, state] = await Promise.allSettled([attributionAt(store, name, bounds.base, at), replayed ? stateAt(store, name, at) : Promise.resolve(useLive ? live : undefined)])
  const doc = state.status === 'fulfilled' ? state.value : undefined
  try {
    if (journal.status === 'rejected') throw journal.reason
    if (state.status === 'rejected') throw state.reason
    const attribution = journal.value
    await attribution.resolveOwners(store, name, useLive ? [...live.store.clients.keys()] : [])
    const tally = new Tally(attribution.edits, bounds.start)
    if (unit === 'characters') countCharacters(attribution, tally)
    else countElements(attribution, tally, doc!)
    return { name, ...(at === undefined ? {} : { at }), unit, users: tally.sorted(), runs: withRuns ? authorRuns(attribution, doc!, surface) : [] }
  } finally {
    if (replayed) doc?.destroy()
  }
}
