// Who wrote what (GET /api/v1/docs/<name>/contributions): per author, what they inserted, deleted
// and what of it is still there, and for the notes the text itself split into runs, each marked
// with its author's colour and name.
import type { Session } from '@homeroom/client'
import { docPath, getJson, neverWritten } from './api.ts'
import { h, PALETTE, timeOf } from './dom.ts'
import type { Tracked } from './history.ts'
import type { People } from './people.ts'

interface Contributions {
  unit: 'characters' | 'elements'
  users: Array<{ user: string; inserted: number; deleted: number; present: number; firstEdit?: string | number; lastEdit?: string | number }>
  runs: Array<{ user: string; text: string }>
}

/** Changes are counted again this long after the last one, not on every keystroke. */
const SETTLE_MS = 600

export function contributionsPanel(session: Session, people: People, documents: Tracked[]): HTMLElement {
  let current = documents[0]
  let timer: ReturnType<typeof setTimeout> | undefined
  let latest: Contributions | undefined
  let request = 0
  const picker = h('select', { 'aria-label': 'Document', 'data-testid': 'contributions-doc' }, ...documents.map((d, i) => h('option', { value: i }, d.label)))
  const body = h('div', { 'aria-live': 'polite', 'data-testid': 'contributions' })

  const load = async () => {
    const mine = ++request
    try {
      const answer = await getJson<Contributions>(session, docPath(current.handle.name, '/contributions'))
      if (mine !== request) return
      latest = answer
      render()
    } catch (error) {
      if (mine !== request) return
      latest = undefined
      body.replaceChildren(h('p', { class: 'muted' }, neverWritten(error) ? 'Nobody has written anything yet.' : `Not available: ${(error as Error).message}`))
    }
  }
  const render = () => {
    if (!latest) return
    const { unit, users, runs } = latest
    if (users.length === 0) return void body.replaceChildren(h('p', { class: 'muted' }, 'Nobody has written anything yet.'))
    const total = users.reduce((sum, u) => sum + u.present, 0) || 1
    // Colours by place in this list, so that no two authors shown share one.
    const colour = new Map(users.map((u, i) => [u.user, PALETTE[i % PALETTE.length]]))
    const of = (user: string) => colour.get(user) ?? PALETTE[0]
    body.replaceChildren(
      h(
        'table',
        { class: 'contributors' },
        h('caption', { class: 'sr-only' }, `Who wrote what, in ${unit}`),
        h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Author'), h('th', { scope: 'col' }, 'Still there'), h('th', { scope: 'col' }, 'Added'), h('th', { scope: 'col' }, 'Removed'), h('th', { scope: 'col' }, 'Last edit'))),
        h(
          'tbody',
          {},
          ...users.map((u) =>
            h(
              'tr',
              { 'data-testid': 'contributor', 'data-user': u.user },
              h('th', { scope: 'row' }, h('span', { class: 'swatch', style: `background: ${of(u.user).ink}`, 'aria-hidden': 'true' }), people.name(u.user)),
              h('td', {}, `${u.present} (${Math.round((u.present / total) * 100)}%)`),
              h('td', {}, u.inserted),
              h('td', {}, u.deleted),
              h('td', {}, timeOf(u.lastEdit)),
            ),
          ),
        ),
      ),
      ...(runs.length
        ? [h('p', { class: 'runs', 'data-testid': 'runs' }, ...runs.map((run) => h('span', { class: 'run', style: `border-color: ${of(run.user).ink}; background: ${of(run.user).tint}`, title: people.name(run.user), 'data-user': run.user }, run.text)))]
        : []),
      h('p', { class: 'muted' }, unit === 'characters' ? 'Counted in characters; the text above is marked in its author’s colour from the table (hover for the name).' : 'Counted in whiteboard elements.'),
    )
  }
  const soon = () => {
    clearTimeout(timer)
    timer = setTimeout(() => void load(), SETTLE_MS)
  }
  for (const d of documents) d.handle.on('change', () => d === current && soon())
  picker.addEventListener('change', () => {
    current = documents[Number(picker.value)]
    latest = undefined
    void load()
  })
  people.onChange(render)
  void Promise.all(documents.map((d) => d.handle.ready)).then(load)
  return h(
    'section',
    { class: 'panel', 'data-testid': 'panel-contributions', 'aria-labelledby': 'contributions-title', id: 'contributions' },
    h('header', {}, h('h2', { id: 'contributions-title' }, 'Who wrote what'), picker),
    h('div', { class: 'panel-body' }, body),
  )
}
