// "Try to break the rules": each button makes a change the rules forbid and sends it through the
// real provider, skipping the client's own check (which would refuse it before sending), so the
// server's guard answers. The answer is shown in plain words, with the reason and close code.
import type * as Y from 'yjs'
import type { Handle, Session } from '@homeroom/client'
import { chatName, sendMessage } from '../../docs-model/surfaces/chat/surface.ts'
import { answer, examName, examStudentName } from '../../docs-model/surfaces/exam/surface.ts'
import { pollName } from '../../docs-model/surfaces/poll/surface.ts'
import { h } from './dom.ts'
import type { People } from './people.ts'
import { plainRefusal } from './plain-words.ts'

/** Documents a demonstration is running on: their refusal is shown here, not as a toast. */
export const demonstrating = new Set<string>()

interface Trick {
  id: string
  /** A function: the label names people, whose names may arrive later. */
  label: () => string
  /** What the change tries to do, for the result line. */
  what: string
  doc: string
  /** The path the client's own check is asked about. */
  path: string
  change: (doc: Y.Doc) => void
  /** Documents the client's own check reads (the exam a sheet belongs to). */
  related?: string[]
}

/** The exam the playground seeds closed (server/routes/playground.ts). */
export const CLOSED_EXAM = 'closed'

function tricks(session: Session, school: string, people: People): Trick[] {
  const me = session.user
  const other = me.sub === 'u2' ? 'u1' : 'u2'
  const list: Trick[] = [
    {
      id: 'tally',
      label: () => 'Change a poll tally',
      what: 'Set the first option’s tally to 999 (only the server counts votes)',
      doc: pollName(school, 'demo'),
      path: 'tallies/0',
      change: (doc) => doc.getMap('tallies').set('0', 999),
    },
    {
      id: 'forge',
      label: () => `Post in chat as ${people.name(other)}`,
      get what() {
        return `Send a chat message signed by ${people.name(other)} instead of you`
      },
      doc: chatName(school, 'general'),
      path: 'messages',
      change: (doc) => void sendMessage(doc, other, 'I did not write this'),
    },
  ]
  if (me.role === 'student') {
    list.push({
      id: 'closed-exam',
      label: () => 'Answer a closed exam',
      what: 'Change an answer after the exam closed',
      doc: examStudentName(school, CLOSED_EXAM, me.sub),
      path: 'answers/0',
      change: (doc) => answer(doc, 0, 1, session.now()),
      related: [examName(school, CLOSED_EXAM)],
    })
  }
  return list
}

export function rulesPanel(session: Session, school: string, people: People): HTMLElement {
  const result = h('div', { class: 'result', role: 'status', 'aria-live': 'polite', 'data-testid': 'rules-result' }, 'Pick one: the server will answer.')
  const buttons = tricks(session, school, people).map((trick) => {
    const button = h('button', { class: 'ghost', 'data-testid': `break-${trick.id}` }, trick.label())
    button.addEventListener('click', () => void run(trick, session, result, button))
    people.onChange(() => (button.textContent = trick.label()))
    return button
  })
  return h(
    'section',
    { class: 'panel', 'data-testid': 'panel-rules', 'aria-labelledby': 'rules-title', id: 'rules' },
    h('header', {}, h('h2', { id: 'rules-title' }, 'Try to break the rules')),
    h(
      'div',
      { class: 'panel-body' },
      h('p', { class: 'muted' }, 'Each button sends a forbidden change to the server anyway, skipping the check this page normally makes first. The server refuses it and nothing of it is kept.'),
      h('div', { class: 'tricks' }, ...buttons),
      result,
    ),
  )
}

async function run(trick: Trick, session: Session, result: HTMLElement, button: HTMLButtonElement): Promise<void> {
  button.disabled = true
  const handle = session.open(trick.doc)
  demonstrating.add(trick.doc)
  result.replaceChildren(h('p', {}, `Sending: ${trick.what}…`))
  try {
    await Promise.all([handle.ready, ...(trick.related ?? []).map((name) => session.open(name).ready)])
    const clientSays = handle.canWrite(trick.path)
      ? 'This page’s own check could not tell.'
      : 'This page would never send it: its own check, the same rules as the server’s, says no too.'
    const reason = await refusalOf(handle, () => handle.doc.transact(() => trick.change(handle.doc)))
    const plain = plainRefusal(reason)
    result.replaceChildren(
      h('p', { class: 'refused', 'data-testid': 'refusal' }, h('strong', {}, 'Refused by the server. '), plain.meaning, plain.detail ? ` The server says: ${plain.detail}.` : ''),
      h('p', { class: 'muted' }, `You tried to: ${trick.what}. Your copy was reloaded from the server, so nothing of it stays. ${clientSays}`),
      h('p', { class: 'muted' }, 'Reason ', h('code', { 'data-testid': 'refusal-reason' }, plain.reason), `, close code ${plain.code}.`),
    )
  } finally {
    demonstrating.delete(trick.doc)
    button.disabled = false
  }
}

/** Makes the change and resolves with the reason the server gave when it refused it. */
function refusalOf(handle: Handle, change: () => void): Promise<string> {
  return new Promise((resolve) => {
    const offs = [
      handle.on('recovered', ({ reason }) => done(reason)),
      handle.on('refused', ({ reason }) => done(reason)),
    ]
    const done = (reason: string) => {
      for (const off of offs) off()
      resolve(reason)
    }
    change()
  })
}
