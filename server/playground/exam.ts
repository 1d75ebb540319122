// Exams: the student's sheet (answers, submit, tab-switch reporting) and the proctor's monitor.
import type { ExamClient, MonitorClient } from '@homeroom/client'
import { attempt, h, panel, timeOf } from './dom.ts'
import type { People } from './people.ts'

/** A sheet's state as the monitor says it. */
const STATE_WORDS: Record<string, string> = { in_progress: 'Answering', submitted: 'Submitted' }
const ALERT_WORDS: Record<string, string> = { tab_switch: 'left the exam tab' }

export function examPanel(exam: ExamClient): HTMLElement {
  // Proctoring: leaving the tab is reported as an event the server turns into an alert. Closing
  // the page hides it too; `pagehide` follows at once then, so the report waits one turn.
  let leaving = false
  addEventListener('pagehide', () => (leaving = true))
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState !== 'hidden') return
    setTimeout(() => {
      if (!leaving && exam.status() === 'open' && !exam.submitted()) attempt(() => exam.event('tab_switch'))
    })
  })
  const render = () => {
    const questions = exam.questions()
    if (questions.length === 0) return [h('p', { class: 'muted' }, 'No exam yet.')]
    const answers = exam.answers()
    const locked = exam.status() !== 'open' || exam.submitted()
    return [
      h('p', { class: 'muted' }, `${exam.title()} · ${exam.status()}${exam.submitted() ? ' · submitted' : ''}`),
      ...questions.map((q, qi) =>
        h(
          'fieldset',
          { class: 'question-block' },
          h('legend', {}, `${qi + 1}. ${q.prompt}`),
          ...q.choices.map((choice, ci) =>
            h(
              'label',
              { class: 'choice' },
              h('input', { type: 'radio', name: `q${qi}`, checked: answers[String(qi)] === ci, disabled: locked, 'data-testid': `answer-${qi}-${ci}`, onchange: () => attempt(() => exam.answer(qi, ci)) }),
              choice,
            ),
          ),
        ),
      ),
      h('button', { disabled: locked, 'data-testid': 'submit-exam', onclick: () => attempt(() => exam.submit()) }, 'Submit'),
    ]
  }
  return panel('Exam', 'panel-exam', render, (rerender) => {
    exam.exam.on('change', rerender)
    exam.sheet.on('change', rerender)
  })
}

export function monitorPanel(monitor: MonitorClient, people: People): HTMLElement {
  const render = () => {
    const students = monitor.students()
    const alerts = monitor.alerts()
    return [
      h(
        'table',
        { class: 'students' },
        h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Student'), h('th', { scope: 'col' }, 'Answered'), h('th', { scope: 'col' }, 'State'))),
        h(
          'tbody',
          {},
          ...(students.length
            ? students.map(([user, s]) => h('tr', { 'data-user': user }, h('td', {}, people.name(user)), h('td', {}, s.answered ?? 0), h('td', {}, STATE_WORDS[s.state ?? ''] ?? s.state ?? '')))
            : [h('tr', {}, h('td', { colspan: 3, class: 'muted' }, 'Nobody has started yet.'))]),
        ),
      ),
      h('h3', {}, `Alerts (${alerts.filter((a) => !a.acked).length} open)`),
      h(
        'ul',
        { class: 'alerts', 'data-testid': 'alerts' },
        ...alerts.map((a) =>
          h(
            'li',
            { class: `alert sev-${a.severity}${a.acked ? ' acked' : ''}`, 'data-testid': 'alert', 'data-type': a.type, 'data-user': a.user },
            h('span', { class: 'badge' }, a.severity),
            h('span', {}, `${people.name(a.user)} ${ALERT_WORDS[a.type] ?? a.type.replace(/_/g, ' ')}${a.count > 1 ? ` ×${a.count}` : ''}`),
            h('time', {}, timeOf(a.at)),
            a.acked ? h('span', { class: 'muted' }, 'acknowledged') : h('button', { class: 'small', 'aria-label': `Acknowledge: ${people.name(a.user)} ${ALERT_WORDS[a.type] ?? a.type}`, onclick: () => attempt(() => monitor.ack(a.id)) }, 'Acknowledge'),
          ),
        ),
      ),
    ]
  }
  return panel('Exam monitor', 'panel-monitor', render, (rerender) => {
    monitor.handle.on('change', rerender)
    people.onChange(rerender)
  })
}
