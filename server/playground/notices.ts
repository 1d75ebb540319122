// The inbox (notifications with an unread badge), the emergency banner every targeted user must
// acknowledge, and the staff controls that send notifications and start a drill.
import { EmergencyClient, type InboxClient, type Session } from '@homeroom/client'
import { userCanWrite } from '../../docs-model/rules.ts'
import { emergencyName } from '../../docs-model/surfaces/emergency/surface.ts'
import { NOTIFIERS } from '../../docs-model/surfaces/inbox/surface.ts'
import type { Role } from '../../docs-model/types.ts'
import { postJson } from './api.ts'
import { attempt, h, panel, timeOf, toast } from './dom.ts'
import { DRILL_STARTED } from './drill.ts'

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
            { class: `${item.read ? 'read' : 'unread'} pri-${item.priority}` },
            // A button, so the keyboard reaches it too: opening an item marks it read.
            h(
              'button',
              { class: 'item', onclick: () => !item.read && attempt(() => inbox.markRead(item.id)) },
              item.read ? null : h('span', { class: 'sr-only' }, 'Unread: '),
              h('strong', {}, item.title),
              h('span', {}, item.body),
              h('time', {}, timeOf(item.at)),
            ),
          ),
        ),
      ),
    ]
  }
  const section = panel('Inbox', 'panel-inbox', render, (rerender) => inbox.handle.on('change', rerender))
  section.id = 'inbox'
  return section
}

/** Shows the newest emergency from the inbox until the user acknowledges it. */
export function emergencyBanner(session: Session, inbox: InboxClient): HTMLElement {
  const banner = h('div', { class: 'emergency', role: 'alert', 'data-testid': 'emergency', hidden: true })
  const dismissed = new Set<string>()
  let current: EmergencyClient | undefined
  const render = () => {
    const latest = inbox.items().find((i) => i.type === 'emergency')
    const name = (latest?.data as { emergency?: string } | undefined)?.emergency
    if (name && current?.handle.name !== name) {
      current = new EmergencyClient(session, name)
      current.handle.on('change', render)
    }
    const b = current?.broadcast()
    const cleared = current?.cleared()
    if (current && b?.title && cleared && !dismissed.has(current.handle.name)) {
      const name = current.handle.name
      banner.hidden = false
      banner.className = 'emergency all-clear'
      banner.replaceChildren(
        h('div', {}, h('strong', { 'data-testid': 'all-clear-notice' }, `All clear: ${b.title} is over`), h('span', {}, `Given at ${timeOf(cleared.at)}.`)),
        h('button', { onclick: () => (dismissed.add(name), render()) }, 'Dismiss'),
      )
      return
    }
    if (!current || !b?.title || cleared || current.acknowledged()) {
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

const post = postJson

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
            run('Drill', async () => {
              const started = await post<{ document: string }>(session, `/api/v1/schools/${school}/emergencies`, { title: 'Fire drill', message: 'Leave the building by the nearest exit and gather in the yard.', level: 'warning', targetRoles: ['student', 'teacher', 'proctor', 'parent', 'driver'] })
              dispatchEvent(new CustomEvent(DRILL_STARTED, { detail: started.document }))
            }),
        }, 'Start fire drill')
      : null,
  ]
  return h('section', { class: 'panel', 'data-testid': 'panel-staff' }, h('header', {}, h('h2', {}, 'Staff')), h('div', { class: 'panel-body row wrap' }, ...buttons))
}
