// The inbox (notifications with an unread badge), the emergency banner every targeted user must
// acknowledge, and the staff controls that send notifications and start a drill.
import { EmergencyClient, type InboxClient, type Session } from '@homeroom/client'
import { userCanWrite } from '../../docs-model/rules.ts'
import { emergencyName } from '../../docs-model/surfaces/emergency/surface.ts'
import { NOTIFIERS } from '../../docs-model/surfaces/inbox/surface.ts'
import type { Role } from '../../docs-model/types.ts'
import { attempt, h, panel, timeOf, toast } from './dom.ts'

export function inboxPanel(inbox: InboxClient, badge: HTMLElement): HTMLElement {
  const updateBadge = () => {
    const unread = inbox.unread()
    badge.textContent = String(unread)
    badge.hidden = unread === 0
  }
  const render = () => {
    updateBadge()
    const items = inbox.items()
    if (items.length === 0) return [h('p', { class: 'muted' }, 'Nothing here yet.')]
    return [
      h(
        'ul',
        { class: 'inbox', 'data-testid': 'inbox' },
        ...items.slice(0, 20).map((item) =>
          h(
            'li',
            { class: `${item.read ? 'read' : 'unread'} pri-${item.priority}`, onclick: () => !item.read && attempt(() => inbox.markRead(item.id)) },
            h('strong', {}, item.title),
            h('span', {}, item.body),
            h('time', {}, timeOf(item.at)),
          ),
        ),
      ),
    ]
  }
  return panel('Inbox', 'panel-inbox', render, (rerender) => inbox.handle.on('change', rerender))
}

/** Shows the newest emergency from the inbox until the user acknowledges it. */
export function emergencyBanner(session: Session, inbox: InboxClient): HTMLElement {
  const banner = h('div', { class: 'emergency', role: 'alert', 'data-testid': 'emergency', hidden: true })
  let current: EmergencyClient | undefined
  const render = () => {
    const latest = inbox.items().find((i) => i.type === 'emergency')
    const name = (latest?.data as { emergency?: string } | undefined)?.emergency
    if (name && current?.handle.name !== name) {
      current = new EmergencyClient(session, name)
      current.handle.on('change', render)
    }
    const b = current?.broadcast()
    if (!current || !b?.title || current.acknowledged()) {
      banner.hidden = true
      return
    }
    banner.hidden = false
    banner.className = `emergency level-${b.level ?? 'info'}`
    const em = current
    banner.replaceChildren(
      h('div', {}, h('strong', {}, b.title), h('span', {}, b.message ?? '')),
      h('button', { 'data-testid': 'ack-emergency', onclick: () => attempt(() => em.acknowledge()) }, 'Acknowledge'),
    )
  }
  inbox.handle.on('change', render)
  return banner
}

async function post(session: Session, path: string, body: unknown): Promise<unknown> {
  const response = await fetch(path, { method: 'POST', headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${session.token}` }, body: JSON.stringify(body) })
  const json = await response.json()
  if (!response.ok) throw new Error(json?.error?.message ?? response.statusText)
  return json
}

export const mayNotify = (role: Role): boolean => NOTIFIERS.includes(role)

/** Whoever may write an emergency's broadcast may start a drill. */
export const mayStartEmergency = (session: Session, school: string): boolean => userCanWrite(emergencyName(school, 'drill'), 'broadcast/title', session.user)

/** Teachers notify their class; admins and directors start a drill. */
export function staffPanel(session: Session, school: string): HTMLElement {
  const run = (what: string, action: () => Promise<unknown>) => action().then(() => toast(`${what}: sent`), (e: Error) => toast(`${what}: ${e.message}`))
  const buttons = [
    h('button', {
      onclick: () =>
        run('Notification', () => post(session, '/api/v1/notifications', { school, targets: { classes: ['7a'] }, type: 'note', title: 'Homework', body: 'Read chapter 4 for Monday.', priority: 'normal' })),
    }, 'Notify class 7a'),
    mayStartEmergency(session, school)
      ? h('button', {
          class: 'danger',
          'data-testid': 'start-drill',
          onclick: () =>
            run('Drill', () =>
              post(session, `/api/v1/schools/${school}/emergencies`, { title: 'Fire drill', message: 'Leave the building by the nearest exit and gather in the yard.', level: 'warning', targetRoles: ['student', 'teacher', 'proctor', 'parent', 'driver'] }),
            ),
        }, 'Start fire drill')
      : null,
  ]
  return h('section', { class: 'panel', 'data-testid': 'panel-staff' }, h('header', {}, h('h2', {}, 'Staff')), h('div', { class: 'panel-body row wrap' }, ...buttons))
}
