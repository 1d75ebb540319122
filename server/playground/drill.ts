// The admin's view of a drill: whom it targets, who acknowledged, the escalations, who is still
// missing (by name), and "All clear", which ends it: recorded in the emergency document
// (`cleared`), after which the server escalates it no more.
import { EmergencyClient, type InboxClient, type Session } from '@homeroom/client'
import { attempt, h, timeOf } from './dom.ts'
import type { People } from './people.ts'

/** The last drill this browser started, so a reload shows it again. */
const STORAGE = 'homeroom.playground.drill'
/** Sent by the staff panel when it started a drill. */
export const DRILL_STARTED = 'homeroom:drill-started'

export function drillPanel(session: Session, school: string, people: People, inbox: InboxClient): HTMLElement {
  const storage = `${STORAGE}:${school}`
  const body = h('div', { class: 'panel-body', 'data-testid': 'drill' })
  let drill: EmergencyClient | undefined
  let targets: { roles: string; people: Array<{ id: string; name: string; role: string }> } | undefined

  const show = (name: string | undefined) => {
    if (!name?.startsWith(`${school}/emergency/`) || drill?.handle.name === name) return
    drill = new EmergencyClient(session, name)
    targets = undefined
    localStorage.setItem(storage, name)
    drill.handle.on('change', render)
    render()
  }
  const render = () => {
    if (!drill) return body.replaceChildren(h('p', { class: 'muted' }, 'No drill yet. Start one with “Start fire drill” in the Staff panel.'))
    const b = drill.broadcast()
    if (!b.title) return body.replaceChildren(h('p', { class: 'muted' }, 'Loading the drill…'))
    const roles = ((b as { targetRoles?: string[] }).targetRoles ?? []).join(',')
    if (targets?.roles !== roles) {
      targets = { roles, people: [] }
      const asked = targets
      void people.ofRoles(roles.split(',')).then((list) => {
        asked.people = list
        render()
      }, () => undefined)
    }
    const status = drill.status()
    const acks = drill.acks()
    const cleared = drill.cleared()
    const missing = targets.people.filter((p) => !acks[p.id])
    const acked = targets.people.filter((p) => acks[p.id])
    const em = drill
    body.replaceChildren(
      h('p', { class: 'drill-title' }, h('strong', {}, b.title), ` · ${b.level ?? ''} · started ${timeOf(b.at)}`),
      h(
        'dl',
        { class: 'stats' },
        stat('Targeted', status.targeted ?? 0, 'targeted'),
        stat('Acknowledged', status.acked ?? 0, 'acked'),
        stat('Escalations', status.escalations ?? 0, 'escalations'),
      ),
      h('progress', { max: Math.max(1, status.targeted ?? 0), value: status.acked ?? 0, 'aria-label': 'Acknowledged so far' }),
      h('h3', {}, `Still missing (${missing.length})`),
      missing.length
        ? h('ul', { class: 'people', 'data-testid': 'missing' }, ...missing.map((p) => h('li', {}, p.name, h('span', { class: 'muted' }, ` · ${p.role}`))))
        : h('p', { class: 'muted', 'data-testid': 'missing' }, targets.people.length ? 'Nobody: everyone acknowledged.' : 'Looking up who is targeted…'),
      h('h3', {}, `Acknowledged (${acked.length})`),
      h('ul', { class: 'people', 'data-testid': 'acknowledged' }, ...acked.map((p) => h('li', {}, p.name, h('span', { class: 'muted' }, ` · ${timeOf(acks[p.id]?.at)}`)))),
      cleared
        ? h('p', { class: 'cleared', role: 'status', 'data-testid': 'cleared' }, `All clear given by ${people.name(cleared.by)} at ${timeOf(cleared.at)}. The server escalates this drill no more.`)
        : em.mayClear()
          ? h('button', { class: 'ok', 'data-testid': 'all-clear', onclick: () => attempt(() => em.clear()) }, 'All clear: end the drill')
          : h('p', { class: 'muted' }, 'Only admins and whoever started it may give the all clear.'),
    )
  }
  people.onChange(render)
  addEventListener(DRILL_STARTED, (event) => show((event as CustomEvent<string>).detail))
  // Escalations reach admins' inboxes: a drill started elsewhere shows up through them.
  inbox.handle.on('change', () => !drill && show(latestFromInbox(inbox)))
  show(localStorage.getItem(storage) ?? undefined)
  render()
  return h('section', { class: 'panel', 'data-testid': 'panel-drill', 'aria-labelledby': 'drill-title', id: 'drill' }, h('header', {}, h('h2', { id: 'drill-title' }, 'Drill')), body)
}

function stat(label: string, value: number, testid: string): HTMLElement {
  return h('div', {}, h('dt', {}, label), h('dd', { 'data-testid': `drill-${testid}` }, value))
}

function latestFromInbox(inbox: InboxClient): string | undefined {
  const item = inbox.items().find((i) => i.type.startsWith('emergency'))
  return (item?.data as { emergency?: string } | undefined)?.emergency
}
