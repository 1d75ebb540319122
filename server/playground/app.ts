// The playground page: pick a school, role and user, then use every surface side by side.
// The identity (with its dev token) is kept in localStorage and the page shell in a service
// worker, so a reload while offline opens the same documents from their IndexedDB copies.
import { BoardClient, BusClient, ChatClient, ExamClient, InboxClient, MonitorClient, PollClient, Session, type ConnectionState, type Handle } from '@homeroom/client'
import type { Role } from '../../docs-model/types.ts'
import { resolve } from '../../docs-model/registry.ts'
import { declaredRead } from '../../docs-model/rules.ts'
import { mayReadHistory, mayRestore } from '../../docs-model/history-access.ts'
import { busName } from '../../docs-model/surfaces/bus/surface.ts'
import { boardName } from '../../docs-model/surfaces/board/surface.ts'
import { chatName } from '../../docs-model/surfaces/chat/surface.ts'
import { docName } from '../../docs-model/surfaces/doc/surface.ts'
import { examMonitorName } from '../../docs-model/surfaces/exam/surface.ts'
import { pollName } from '../../docs-model/surfaces/poll/surface.ts'
import { boardPanel } from './board.ts'
import { DEMO_USERS } from './cast.ts'
import { busPanel } from './bus.ts'
import { chatPanel } from './chat.ts'
import { h, svg, toast } from './dom.ts'
import { editorPanel } from './editor.ts'
import { examPanel, monitorPanel } from './exam.ts'
import { emergencyBanner, inboxPanel, mayNotify, mayStartEmergency, staffPanel } from './notices.ts'
import { pollPanel } from './poll.ts'
import { contributionsPanel } from './contributions.ts'
import { drillPanel } from './drill.ts'
import { historyPanel, type Tracked } from './history.ts'
import { offlinePanel } from './offline.ts'
import { People } from './people.ts'
import { demonstrating, rulesPanel } from './rules.ts'

interface Login {
  school: string
  sub: string
  role: Role
  token: string
}

const STORAGE = 'homeroom.playground.login'
const app = document.getElementById('app')!

function storedLogin(): Login | undefined {
  try {
    return JSON.parse(localStorage.getItem(STORAGE) ?? 'null') ?? undefined
  } catch {
    return undefined
  }
}

async function login(school: string, sub: string, role: Role): Promise<Login> {
  const stored = storedLogin()
  if (stored && stored.school === school && stored.sub === sub && stored.role === role && !expiresSoon(stored.token)) return stored
  const response = await fetch('/playground/token', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ school, sub, role }) })
  if (!response.ok) throw new Error((await response.json()).error?.message ?? 'could not get a token')
  const fresh = { school, sub, role, token: (await response.json()).token as string }
  localStorage.setItem(STORAGE, JSON.stringify(fresh))
  return fresh
}

/** Dev tokens last 8 hours; a stored one close to its end is replaced (when online). */
function expiresSoon(token: string): boolean {
  try {
    const { exp } = JSON.parse(atob(token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/')))
    return typeof exp === 'number' && exp * 1000 < Date.now() + 5 * 60_000 && navigator.onLine
  } catch {
    return true
  }
}

function showLogin(error?: string): void {
  const school = h('input', { value: 's1', 'aria-label': 'School', 'data-testid': 'school' })
  const user = h('select', { 'aria-label': 'User', 'data-testid': 'user' }, ...DEMO_USERS.map((u) => h('option', { value: u.id }, `${u.name} (${u.role})`)))
  const form = h(
    'form',
    { class: 'login' },
    h('h1', {}, 'Homeroom playground'),
    h('p', { class: 'muted' }, 'Every surface here is a live Yjs document on this server. Open a second window as another user to see them meet.'),
    h('label', {}, 'School', school),
    h('label', {}, 'User', user),
    error ? h('p', { class: 'error' }, error) : null,
    h('button', { type: 'submit' }, 'Enter'),
  )
  form.addEventListener('submit', (event) => {
    event.preventDefault()
    const chosen = DEMO_USERS.find((u) => u.id === user.value)!
    const url = new URL(location.href)
    url.search = new URLSearchParams({ school: school.value, user: chosen.id, role: chosen.role }).toString()
    location.href = url.toString()
  })
  app.replaceChildren(form)
}

const STATE_LABEL: Record<ConnectionState, string> = { online: 'Online', syncing: 'Syncing…', offline: 'Offline', refused: 'Refused: changes kept' }

function start({ school, sub, role, token }: Login): void {
  const session = new Session({ url: `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}`, token })
  // For poking around in the developer console.
  Object.assign(window, { homeroom: session })
  const indicator = h('span', { class: 'indicator offline', 'data-testid': 'connection', 'data-state': 'offline' }, 'Offline')
  session.on('state', (state) => {
    indicator.className = `indicator ${state}`
    indicator.dataset.state = state
    indicator.textContent = STATE_LABEL[state]
  })
  const badge = h('span', { class: 'badge-count', 'data-testid': 'unread', hidden: true }, '0')
  const me = DEMO_USERS.find((u) => u.id === sub)
  const header = h(
    'header',
    { class: 'top' },
    h('h1', {}, 'Homeroom'),
    h('span', { class: 'who' }, `${me?.name ?? session.user.name ?? sub} · ${role} · ${school}`),
    // Its name is what it shows: "Inbox", then the unread count when there is one.
    h('a', { class: 'bell', href: '#inbox', 'data-testid': 'bell' }, bellIcon(), h('span', { class: 'sr-only' }, 'Inbox'), badge),
    indicator,
    h('button', { class: 'small ghost', onclick: switchUser }, 'Switch user'),
  )
  const people = new People(session, school)
  const open = (name: string) => watch(session.open(name))

  const inbox = new InboxClient(session, school)
  // A panel for each document whose surface names this user among its readers (not through the
  // admins' and directors' school-wide grant, which would give them every panel).
  const isFor = (name: string): boolean => {
    const { ref, surface } = resolve(name)
    return declaredRead(surface, session.user, ref) !== false
  }
  const panels: HTMLElement[] = []
  if (isFor(docName(school, 'notes'))) panels.push(editorPanel(open(docName(school, 'notes'))))
  // Any user may open their own answer sheet: sitting the exam is the students' part.
  if (role === 'student') panels.push(examPanel(watchAll(new ExamClient(session, school, 'demo'), 'exam', 'sheet')))
  if (isFor(examMonitorName(school, 'demo'))) panels.push(monitorPanel(watchAll(new MonitorClient(session, school, 'demo'), 'handle'), people))
  if (isFor(pollName(school, 'demo'))) panels.push(pollPanel(watchAll(new PollClient(session, school, 'demo'), 'poll')))
  if (isFor(chatName(school, 'general'))) panels.push(chatPanel(watchAll(new ChatClient(session, chatName(school, 'general')), 'handle'), people))
  if (isFor(boardName(school, 'demo'))) panels.push(boardPanel(watchAll(new BoardClient(session, boardName(school, 'demo')), 'handle')))
  if (isFor(busName(school, 'b1'))) panels.push(busPanel(watchAll(new BusClient(session, school, 'b1'), 'handle')))
  panels.push(inboxPanel(watchAll(inbox, 'handle'), badge))
  if (mayNotify(role) || mayStartEmergency(session, school)) panels.push(staffPanel(session, school))
  // What makes Homeroom different, listed first in the row of views.
  const special: HTMLElement[] = []
  if (mayStartEmergency(session, school)) special.push(drillPanel(session, school, people, inbox))
  // Looking back is for those who may read a document's history (docs-model/history-access.ts).
  const tracked: Tracked[] = [
    { label: 'Class notes', name: docName(school, 'notes'), kind: 'notes' as const },
    { label: 'Whiteboard', name: boardName(school, 'demo'), kind: 'board' as const },
  ]
    .filter(({ name }) => mayReadHistory(session.user, resolve(name).ref, resolve(name).surface))
    .map(({ label, name, kind }) => ({ label, kind, handle: open(name), restorable: mayRestore(session.user, resolve(name).ref, resolve(name).surface) }))
  if (tracked.length) special.push(historyPanel(session, people, tracked), contributionsPanel(session, people, tracked))
  special.push(rulesPanel(session, school, people), offlinePanel(session, () => [...opened]))
  panels.push(...special)

  const links = (list: HTMLElement[]) => list.map((panel) => viewLink(panel)).filter((link) => link !== null)
  const nav = h(
    'nav',
    { class: 'views', 'aria-label': 'Views' },
    h('span', { class: 'views-label' }, 'Try:'),
    ...links(special),
    h('span', { class: 'views-label' }, 'Surfaces:'),
    ...links(panels.filter((panel) => !special.includes(panel))),
  )
  app.replaceChildren(header, emergencyBanner(session, inbox), nav, h('main', { class: 'grid' }, ...panels))
}

/** A link to a panel from the row of views at the top, so every view is one step away. */
function viewLink(panel: HTMLElement): HTMLElement | null {
  const title = panel.querySelector('h2')?.textContent
  if (!title) return null
  panel.id ||= `view-${panel.dataset.testid ?? title.toLowerCase().replace(/\W+/g, '-')}`
  return h('a', { href: `#${panel.id}` }, title.replace(/:.*$/, ''))
}

/** Every document the page opened, for the offline panel's list of waiting edits. */
const opened = new Set<Handle>()

function switchUser(): void {
  localStorage.removeItem(STORAGE)
  location.search = ''
}

function bellIcon(): SVGElement {
  return svg('svg', { viewBox: '0 0 24 24', fill: 'none', stroke: 'currentColor', 'stroke-width': 2, 'aria-hidden': 'true' }, svg('path', { d: 'M6 8a6 6 0 0 1 12 0c0 7 3 9 3 9H3s3-2 3-9' }), svg('path', { d: 'M10.3 21a1.94 1.94 0 0 0 3.4 0' }))
}

/** Tells the user when the server refused to open a document or did not accept a change. */
function watch(handle: Handle): Handle {
  if (opened.has(handle)) return handle
  opened.add(handle)
  // The "break the rules" panel shows its own refusals.
  handle.on('refused', ({ reason, pending }) => !demonstrating.has(handle.name) && toast(`${handle.name}: ${reason}${pending.length ? ` (kept here, not on the server: ${pending.join(', ')})` : ''}`))
  handle.on('recovered', ({ reason, notAccepted }) => !demonstrating.has(handle.name) && toast(`Not accepted (${reason}): ${notAccepted.join(', ') || 'a change'}. Reloaded from the server.`))
  return handle
}

function watchAll<T extends object>(client: T, ...keys: Array<keyof T>): T {
  for (const key of keys) watch(client[key] as Handle)
  return client
}

async function main(): Promise<void> {
  if ('serviceWorker' in navigator) void navigator.serviceWorker.register('/sw.js').catch(() => undefined)
  const params = new URLSearchParams(location.search)
  const school = params.get('school')
  const sub = params.get('user')
  const role = params.get('role') as Role | null
  if (!school || !sub || !role) {
    const stored = storedLogin()
    return stored ? start(stored) : showLogin()
  }
  try {
    start(await login(school, sub, role))
  } catch (error) {
    showLogin((error as Error).message)
  }
}

void main()
