// Facts for rules that consult other documents: live copies win, stored copies are read once,
// read again after the document unloads here, and server freezes answer with frozen:.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import * as Y from 'yjs'
import { RelatedDocs } from '../server/facts.ts'

function setup() {
  const live = new Map<string, Y.Doc>()
  const stored = new Map<string, Y.Doc>()
  let peeks = 0
  const related = new RelatedDocs(
    (name) => live.get(name),
    async (name) => {
      peeks++
      return stored.get(name) ?? new Y.Doc()
    },
  )
  return { live, stored, related, peeks: () => peeks }
}

const withStatus = (status: string) => {
  const doc = new Y.Doc()
  doc.getMap('meta').set('status', status)
  return doc
}
const statusOf = (doc: Y.Doc | undefined) => doc?.getMap('meta').get('status')

test('a loaded document is read live, without touching storage', async () => {
  const { live, related, peeks } = setup()
  live.set('s1/exam/e1', withStatus('open'))
  await related.load(['s1/exam/e1'])
  assert.is(statusOf(related.facts.related('s1/exam/e1')), 'open')
  live.get('s1/exam/e1')!.getMap('meta').set('status', 'closed')
  assert.is(statusOf(related.facts.related('s1/exam/e1')), 'closed')
  assert.is(peeks(), 0)
})

test('a stored copy is read once, and again after the document unloads here', async () => {
  const { stored, related, peeks } = setup()
  stored.set('s1/exam/e1', withStatus('open'))
  assert.is(related.facts.related('s1/exam/e1'), undefined, 'nothing before loading')
  await Promise.all([related.load(['s1/exam/e1']), related.load(['s1/exam/e1'])])
  await related.load(['s1/exam/e1'])
  assert.is(peeks(), 1)
  assert.is(statusOf(related.facts.related('s1/exam/e1')), 'open')
  stored.set('s1/exam/e1', withStatus('closed'))
  related.forget('s1/exam/e1')
  await related.load(['s1/exam/e1'])
  assert.is(peeks(), 2)
  assert.is(statusOf(related.facts.related('s1/exam/e1')), 'closed')
})

test('server freezes answer with frozen: until thawed', () => {
  const { related } = setup()
  related.freeze('s1/exam/e1', 'exam ended by the timer')
  assert.is(related.facts.frozen('s1/exam/e1'), 'frozen: exam ended by the timer')
  related.thaw('s1/exam/e1')
  assert.is(related.facts.frozen('s1/exam/e1'), null)
})

test.run()
