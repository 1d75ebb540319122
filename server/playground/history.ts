// Time travel: a slider over a document's history (GET /api/v1/docs/<name>/history) that shows
// the notes or the whiteboard as they were at each change (GET /api/v1/docs/<name>?at=), and
// restores that state (POST …/restore) as a new change everyone connected receives.
import type { Handle, Session } from '@homeroom/client'
import { docPath, getJson, neverWritten, postJson } from './api.ts'
import { boardView, notesView } from './content.ts'
import { h, toast } from './dom.ts'
import type { People } from './people.ts'

export interface HistoryEntry {
  seq: number
  at: string | number
  user?: string | null
  origin?: string
  bytes?: number
}

export interface Tracked {
  label: string
  handle: Handle
  kind: 'notes' | 'board'
  /** May this user restore it (admins; teachers their docs and boards)? */
  restorable: boolean
}

const LIMIT = 200
const iso = (at: string | number): string => new Date(at).toISOString()
const clock = (at: string | number): string => new Date(at).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' })

export function historyPanel(session: Session, people: People, documents: Tracked[]): HTMLElement {
  let current = documents[0]
  let entries: HistoryEntry[] = []
  let request = 0
  const picker = h('select', { 'aria-label': 'Document', 'data-testid': 'history-doc' }, ...documents.map((d, i) => h('option', { value: i }, d.label)))
  const slider = h('input', { type: 'range', min: 0, max: 0, value: 0, step: 1, 'aria-label': 'Point in time', 'data-testid': 'history-slider' })
  const when = h('p', { class: 'when', 'aria-live': 'polite', 'data-testid': 'history-when' })
  const preview = h('div', { class: 'preview' })
  const restore = h('button', { 'data-testid': 'history-restore', disabled: true }, 'Restore this version')
  const refresh = h('button', { class: 'ghost', 'data-testid': 'history-refresh' }, 'Back to now')

  /** The point in time the slider stands at, or undefined at its right end (now). */
  const chosen = (): HistoryEntry | undefined => {
    const index = Number(slider.value)
    return index < entries.length - 1 ? entries[index] : undefined
  }

  /** Reads the history and stands at "now"; `following` (a live change) gives way if the user moved the slider meanwhile. */
  const load = async (following = false) => {
    const mine = ++request
    try {
      const page = await getJson<{ entries: HistoryEntry[] }>(session, docPath(current.handle.name, `/history?limit=${LIMIT}`))
      if (mine !== request || (following && chosen() !== undefined)) return
      entries = [...page.entries].sort((a, b) => a.seq - b.seq)
      slider.max = String(Math.max(0, entries.length - 1))
      slider.value = slider.max
      slider.disabled = entries.length < 2
      await show()
    } catch (error) {
      if (mine !== request) return
      entries = []
      slider.max = '0'
      slider.disabled = true
      restore.disabled = true
      preview.replaceChildren()
      when.textContent = neverWritten(error) ? `No changes yet: write in the ${current.label.toLowerCase()} and come back.` : `No history to show: ${(error as Error).message}`
    }
  }

  const show = async () => {
    const entry = chosen()
    restore.disabled = entry === undefined
    restore.hidden = !current.restorable
    const index = Number(slider.value)
    const last = entries[index]
    const by = last?.user ? ` by ${people.name(last.user)}` : last ? ' by the server' : ''
    if (!entry) {
      when.textContent = entries.length ? `Now: change ${entries.length} of ${entries.length}${by}, ${clock(last!.at)}. Drag the slider left to go back.` : 'No changes yet.'
      preview.replaceChildren()
      return
    }
    when.textContent = `As it was at ${clock(entry.at)}: change ${index + 1} of ${entries.length}${by}.`
    slider.setAttribute('aria-valuetext', `${clock(entry.at)}, change ${index + 1} of ${entries.length}`)
    const mine = ++request
    const decoded = await getJson<Record<string, unknown>>(session, `${docPath(current.handle.name)}?at=${encodeURIComponent(iso(entry.at))}`).catch((error: Error) => error)
    if (mine !== request) return
    if (decoded instanceof Error) return void preview.replaceChildren(h('p', { class: 'error' }, decoded.message))
    preview.replaceChildren(current.kind === 'notes' ? notesView(decoded) : boardView(decoded as { elements?: Record<string, never> }))
  }

  slider.addEventListener('input', () => void show())
  picker.addEventListener('change', () => {
    current = documents[Number(picker.value)]
    void load()
  })
  refresh.addEventListener('click', () => void load())
  restore.addEventListener('click', async () => {
    const entry = chosen()
    if (!entry) return
    restore.disabled = true
    try {
      await postJson(session, docPath(current.handle.name, '/restore'), { at: iso(entry.at) })
      toast(`${current.label} restored to ${clock(entry.at)}: everyone sees it now.`)
      await load()
    } catch (error) {
      toast(`Not restored: ${(error as Error).message}`)
      restore.disabled = false
    }
  })
  // Standing at "now", the slider follows new changes (a moment after the last one).
  let settle: ReturnType<typeof setTimeout> | undefined
  for (const d of documents) {
    d.handle.on('change', () => {
      if (d !== current || chosen() !== undefined) return
      clearTimeout(settle)
      settle = setTimeout(() => chosen() === undefined && void load(true), 800)
    })
  }
  void Promise.all(documents.map((d) => d.handle.ready)).then(() => load())

  return h(
    'section',
    { class: 'panel wide', 'data-testid': 'panel-history', 'aria-labelledby': 'history-title', id: 'history' },
    h('header', {}, h('h2', { id: 'history-title' }, 'History: go back in time'), picker),
    h('div', { class: 'panel-body' }, h('label', { class: 'slider' }, h('span', { class: 'muted' }, 'Earlier'), slider, h('span', { class: 'muted' }, 'Now')), when, preview, h('div', { class: 'row-buttons' }, restore, refresh)),
  )
}
