// The offline switch: drops the connection on purpose, lists the edits waiting in this browser
// (IndexedDB keeps them across reloads), and once back online shows them merging with what
// others did meanwhile (Yjs merges; nothing to resolve by hand).
import type { Handle, Session } from '@homeroom/client'
import { h } from './dom.ts'

/** Readable names of the documents, for the list of waiting edits. */
const TITLES: Array<[RegExp, string]> = [
  [/\/doc\/notes$/, 'Class notes'],
  [/\/board\//, 'Whiteboard'],
  [/\/chat\//, 'Chat'],
  [/\/poll\/[^/]+\/ballot\//, 'Your vote'],
  [/\/exam\/[^/]+\/student\//, 'Your exam answers'],
  [/\/exam\/[^/]+\/monitor$/, 'Exam monitor'],
  [/\/inbox\//, 'Inbox'],
]
const titleOf = (name: string): string => TITLES.find(([pattern]) => pattern.test(name))?.[1] ?? name

export function offlinePanel(session: Session, handles: () => Handle[]): HTMLElement {
  let offline = false
  let merging = 0
  const toggle = h('button', { class: 'switch', role: 'switch', 'aria-checked': 'false', 'data-testid': 'offline-switch' }, 'Work offline')
  const status = h('div', { role: 'status', 'aria-live': 'polite', 'data-testid': 'offline-status' })
  const list = h('ul', { class: 'waiting', 'data-testid': 'waiting' })

  const render = () => {
    const waiting = handles().filter((handle) => handle.pending)
    // Online, a change is pending only for the moment it travels: listed while offline or merging.
    list.hidden = !offline && merging === 0
    list.replaceChildren(...waiting.map((handle) => h('li', {}, h('strong', {}, titleOf(handle.name)), ` · ${handle.pendingPaths().join(', ') || 'changes'}`)))
    const state = session.state()
    toggle.setAttribute('aria-checked', String(offline))
    toggle.textContent = offline ? 'Go back online' : 'Work offline'
    if (offline) status.textContent = waiting.length ? `Offline: ${count(waiting.length)} waiting in this browser.` : 'Offline: edit anything, your changes wait here.'
    else if (merging > 0 && (state !== 'online' || waiting.length > 0)) status.textContent = `Back online: merging ${count(merging)} with the server…`
    else if (merging > 0) {
      status.textContent = `Merged: ${count(merging)} reached the server, together with what others did meanwhile.`
      status.dataset.merged = 'true'
      merging = 0
    } else if (!status.dataset.merged) status.textContent = state === 'online' ? 'Online: every change reaches the server at once.' : ''
  }
  toggle.addEventListener('click', () => {
    offline = !offline
    delete status.dataset.merged
    if (offline) {
      merging = 0
      session.socket.disconnect()
    }
    else {
      merging = handles().filter((handle) => handle.pending).length
      void session.socket.connect()
      // An acknowledgement is not a change: look again until everything is merged.
      const check = setInterval(() => (render(), merging === 0 && clearInterval(check)), 500)
    }
    render()
  })
  session.on('state', render)
  const watched = new WeakSet<Handle>()
  const watchAll = () => {
    for (const handle of handles()) {
      if (watched.has(handle)) continue
      watched.add(handle)
      handle.on('change', render)
    }
  }
  // Documents open as panels mount; watch those opened later too.
  setTimeout(() => (watchAll(), render()))
  session.on('state', watchAll)

  return h(
    'section',
    { class: 'panel', 'data-testid': 'panel-offline', 'aria-labelledby': 'offline-title', id: 'offline' },
    h('header', {}, h('h2', { id: 'offline-title' }, 'Offline'), toggle),
    h('div', { class: 'panel-body' }, h('p', { class: 'muted' }, 'Switch off the connection, edit the notes or chat, then come back: the edits wait here and merge.'), status, list),
  )
}

const count = (n: number): string => `${n} document${n === 1 ? '' : 's'} with changes`
