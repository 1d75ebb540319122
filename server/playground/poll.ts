// Poll: students vote, everyone sees the live bar chart of the tallies the server derives.
import type { PollClient } from '@homeroom/client'
import { attempt, h, panel } from './dom.ts'

export function pollPanel(poll: PollClient): HTMLElement {
  const voter = poll.poll.session.user.role === 'student'
  const render = () => {
    const { question, options } = poll.meta()
    if (options.length === 0) return [h('p', { class: 'muted' }, 'No poll yet.')]
    const tallies = poll.tallies()
    const total = tallies.reduce((a, b) => a + b, 0)
    const mine = voter ? poll.myChoice() : undefined
    return [
      h('p', { class: 'question' }, question ?? ''),
      h(
        'div',
        { class: 'chart', 'data-testid': 'poll-chart' },
        ...options.map((option, i) =>
          h(
            'div',
            { class: `bar-row${mine === i ? ' chosen' : ''}` },
            voter
              ? h('button', { class: 'option', 'data-testid': `vote-${i}`, disabled: poll.closed(), onclick: () => attempt(() => poll.vote(i)) }, option)
              : h('span', { class: 'option' }, option),
            h('div', { class: 'bar' }, h('div', { class: 'fill', style: `width: ${total ? (tallies[i] / total) * 100 : 0}%` })),
            h('span', { class: 'count', 'data-testid': `tally-${i}` }, tallies[i]),
          ),
        ),
      ),
      h('p', { class: 'muted' }, `${total} vote${total === 1 ? '' : 's'}${poll.closed() ? ' · closed' : ''}${mine !== undefined ? ` · you chose ${options[mine]}` : ''}`),
    ]
  }
  return panel('Poll', 'panel-poll', render, (rerender) => {
    poll.poll.on('change', rerender)
    if (voter) poll.ballot.on('change', rerender)
  })
}
