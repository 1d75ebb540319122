// A document's history over HTTP, beside its decoded view (routes/docs.ts dispatches here):
// `GET /api/v1/docs/<name>/history?limit=&before=` pages its stored changes newest first, and
// `GET /api/v1/docs/<name>/contributions?at=` says who wrote what (history/contributions.ts).
import { resolve } from '../../docs-model/registry.ts'
import type { Homeroom } from '../homeroom.ts'
import { contributions, NoContributionsError, type Contribution } from '../history/contributions.ts'
import { walk } from '../history/replay.ts'
import { checkedBounds, iso } from '../history/time.ts'
import type { JournalEntry } from '../store/types.ts'
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

/** The `limit` entries before `before`, newest first. The journal is read in order, keeping the last `limit + 1`. */
export async function historyPage(app: Homeroom, name: string, query: { limit: number; before?: string }): Promise<HistoryPage> {
  const before = parseBefore(query.before)
  await checkedBounds(app.store, name)
  const kept: JournalEntry[] = []
  await walk(app.store, name, 0, (entry) => {
    if (entry.seq >= before) return false
    kept.push(entry)
    if (kept.length > query.limit + 1) kept.shift()
  })
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
    const result = await contributions(app.store, name, at)
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
