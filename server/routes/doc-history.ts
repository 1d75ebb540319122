// A document's history over HTTP, beside its decoded view (routes/docs.ts dispatches here):
// `GET /api/v1/docs/<name>/history?limit=&before=` pages its stored changes newest first, and
// `GET /api/v1/docs/<name>/contributions?at=` says who wrote what (history/contributions.ts).
import { resolve } from '../../docs-model/registry.ts'
import type { Homeroom } from '../homeroom.ts'
import { contributions, NoContributionsError, type Contribution } from '../history/contributions.ts'
import { walk } from '../history/replay.ts'
import { checkedBounds, iso } from '../history/time.ts'
import type { JournalEntry, JournalStore } from '../store/types.ts'
import { HttpError } from '../http.ts'

export type DocView = 'history' | 'contributions'
const VIEWS: readonly DocView[] = ['history', 'contributions']

/**
 * The document and view a path names: `<name>/history` or `<name>/contributions`, where `<name>`
 * is a document. A path that is itself a document's name (`s1/doc/history`) names that document.
 */
export function docViewOf(path: string): { name: string; view: DocView } | undefined {
  const slash = path.lastIndexOf('/')
  const view = path.slice(slash + 1) as DocView
  if (slash < 0 || !VIEWS.includes(view)) return undefined
  const name = path.slice(0, slash)
  const parses = (candidate: string) => {
    try {
      resolve(candidate)
      return true
    } catch {
      return false
    }
  }
  return !parses(path) && parses(name) ? { name, view } : undefined
}

export interface HistoryEntry {
  seq: number
  at: string
  user: string | null
  origin: string
  bytes: number
}

export interface HistoryPage {
  name: string
  entries: HistoryEntry[]
  /** The `before` of the next (older) page; null on the last. */
  next: number | null
}

/** `before` as given: a sequence number from an earlier page's `next`. */
function parseBefore(value: string | undefined): number {
  if (value === undefined) return Infinity
  if (!/^[1-9]\d{0,15}$/.test(value)) throw new HttpError(400, 'bad-request', `'before' must be the 'next' of an earlier page (a positive whole number), not '${value.slice(0, 40)}'`)
  return Number(value)
}

/** The last `count` entries with `seq` below `before`, oldest first: windows below `before`, widened fourfold until they hold enough or reach the start. */
async function lastBefore(store: JournalStore, name: string, before: number, count: number): Promise<JournalEntry[]> {
  for (let span = Math.max(64, count * 4); ; span *= 4) {
    const from = Math.max(0, before - 1 - span)
    const window: JournalEntry[] = []
    await walk(store, name, from, (entry) => {
      if (entry.seq >= before) return false
      window.push(entry)
    })
    if (window.length >= count || from === 0) return window.slice(-count)
  }
}

/**
 * The last `count` entries of the journal, oldest first. Sequence numbers are shared by every
 * document, so the newest is found from the newest snapshot: entries after it are few (the
 * server writes one every few hundred), and older ones come in windows below.
 */
async function lastEntries(store: JournalStore, name: string, count: number): Promise<JournalEntry[]> {
  const snapshot = (await store.listSnapshots(name)).at(-1)
  const tail: JournalEntry[] = []
  await walk(store, name, snapshot?.seq ?? 0, (entry) => {
    tail.push(entry)
    if (tail.length > count) tail.shift()
  })
  if (tail.length >= count || !snapshot) return tail
  const older = await lastBefore(store, name, tail[0]?.seq ?? snapshot.seq + 1, count - tail.length)
  return [...older, ...tail]
}

/** The `limit` entries before `before` (the newest when absent), newest first. */
export async function historyPage(store: JournalStore, name: string, query: { limit: number; before?: string }): Promise<HistoryPage> {
  const before = parseBefore(query.before)
  await checkedBounds(store, name)
  // One more than asked: whether an older page exists.
  const kept = before === Infinity ? await lastEntries(store, name, query.limit + 1) : await lastBefore(store, name, before, query.limit + 1)
  const more = kept.length > query.limit
  const page = (more ? kept.slice(1) : kept).reverse()
  return {
    name,
    entries: page.map((e) => ({ seq: e.seq, at: iso(e.at), user: e.user, origin: e.origin, bytes: e.update.byteLength })),
    next: more ? page[page.length - 1].seq : null,
  }
}

export interface ContributionsView {
  name: string
  at: string | null
  unit: 'characters' | 'elements'
  users: Array<Omit<Contribution, 'firstEdit' | 'lastEdit'> & { firstEdit: string; lastEdit: string }>
  runs: Array<{ user: string; text: string }>
}

export async function contributionsView(app: Homeroom, name: string, at?: number): Promise<ContributionsView> {
  try {
    const result = await contributions(app.store, name, at, at === undefined ? app.hocuspocus.documents.get(name) : undefined)
    return {
      name,
      at: at === undefined ? null : iso(at),
      unit: result.unit,
      users: result.users.map((u) => ({ ...u, firstEdit: iso(u.firstEdit), lastEdit: iso(u.lastEdit) })),
      runs: result.runs,
    }
  } catch (error) {
    if (error instanceof NoContributionsError) throw new HttpError(400, 'bad-request', error.message)
    throw error
  }
}
