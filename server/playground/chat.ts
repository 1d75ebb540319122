// Chat: messages, a typing indicator (presence) and read receipts, with people's names.
import type { ChatClient } from '@homeroom/client'
import { attempt, colorFor, h, panel, timeOf } from './dom.ts'
import type { People } from './people.ts'

export function chatPanel(chat: ChatClient, people: People): HTMLElement {
  const me = chat.handle.session.user.sub
  const list = () => {
    const messages = chat.messages().slice(-50)
    const last = messages.at(-1)
    if (last && last.author !== me && document.visibilityState === 'visible' && chat.handle.canWrite(`reads/${me}`)) {
      queueMicrotask(() => attempt(() => chat.markRead(last.id)))
    }
    const myLast = [...messages].reverse().find((m) => m.author === me)
    const readers = myLast ? chat.readBy(myLast.id) : []
    const typers = chat.typers()
    return [
      h(
        'ol',
        { class: 'messages', 'data-testid': 'messages' },
        ...messages.map((m) =>
          h(
            'li',
            { class: m.author === me ? 'mine' : '' },
            h('span', { class: 'author', 'data-user': m.author }, h('span', { class: 'dot', style: `background: ${colorFor(m.author)}`, 'aria-hidden': 'true' }), m.author === me ? 'You' : people.name(m.author)),
            h('span', { class: 'text' }, m.text),
            h('time', {}, timeOf(m.at)),
            m.id === myLast?.id && readers.length > 0 ? h('span', { class: 'receipt', 'data-testid': 'receipt' }, `Read by ${people.list(readers)}`) : null,
          ),
        ),
      ),
      h('p', { class: 'typing muted', 'data-testid': 'typing' }, typers.length ? `${typers.join(', ')} ${typers.length === 1 ? 'is' : 'are'} typing…` : ''),
    ]
  }
  const input = h('input', { placeholder: 'Message', 'aria-label': 'Message', 'data-testid': 'chat-input' })
  input.addEventListener('input', () => chat.typing(input.value.length > 0))
  const form = h('form', { class: 'row', 'aria-label': 'Send a message' }, input, h('button', { type: 'submit' }, 'Send'))
  form.addEventListener('submit', (event) => {
    event.preventDefault()
    const text = input.value.trim()
    if (!text) return
    attempt(() => chat.send(text))
    input.value = ''
  })
  const section = panel('Chat · Class 7a', 'panel-chat', list, (rerender) => {
    chat.handle.on('change', rerender)
    void chat.handle.ready.then(() => chat.handle.awareness.on('change', rerender))
    document.addEventListener('visibilitychange', rerender)
    people.onChange(rerender)
  })
  section.append(form)
  return section
}
