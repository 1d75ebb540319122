// Documents and whiteboards end to end: a ProseMirror body edited together, comments keyed by
// author, presence with cursors and typing, board elements by author with z-order, the teacher's
// lock, and screen-share signaling between two users of a board.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { schema } from 'prosemirror-schema-basic'
import { prosemirrorJSONToYXmlFragment, yXmlFragmentToProsemirrorJSON } from 'y-prosemirror'
import { useServer } from './helpers/server.ts'
import { closeClients, DEADLINE_MS, open, until, within } from './helpers/clients.ts'
import { student, teacher } from './helpers/tokens.ts'

const server = useServer()
test.after.each(closeClients)

const paragraph = (text: string) => ({ type: 'paragraph', content: [{ type: 'text', text }] })

test('a ProseMirror body edited by two users, with presence, cursors and typing', async () => {
  const ana = await open(server, 's1/doc/essay', student('u1'))
  const ms = await open(server, 's1/doc/essay', teacher('t1'))
  prosemirrorJSONToYXmlFragment(schema, { type: 'doc', content: [paragraph('Rivers shape valleys.')] }, ana.doc.getXmlFragment('body'))
  await until(() => JSON.stringify(yXmlFragmentToProsemirrorJSON(ms.doc.getXmlFragment('body'))).includes('Rivers shape valleys.'), { what: 'body at the teacher' })
  const node = schema.nodeFromJSON(yXmlFragmentToProsemirrorJSON(ms.doc.getXmlFragment('body')))
  assert.is(node.textContent, 'Rivers shape valleys.', 'the body is a valid ProseMirror document')

  // Cursors and typing travel as presence; the server stamps who is who.
  ana.provider.setAwarenessField('cursor', { anchor: 3, head: 8 })
  ana.provider.setAwarenessField('typing', true)
  ana.provider.setAwarenessField('user', { id: 't1', name: 'not really the teacher', role: 'teacher' })
  await until(() => [...ms.provider.awareness!.getStates().values()].some((s) => s.typing === true), { what: 'typing at the teacher' })
  const state = [...ms.provider.awareness!.getStates().values()].find((s) => s.typing === true)!
  assert.equal(state.cursor, { anchor: 3, head: 8 })
  assert.is(state.user.id, 'u1', 'identity comes from the token')
})

test('comments: anyone adds their own, only teachers touch others\'', async () => {
  const ana = await open(server, 's1/doc/notes', student('u1'))
  const ms = await open(server, 's1/doc/notes', teacher('t1'))
  ana.doc.getMap('comments').set('u1:c1', { text: 'Is this right?', anchor: 4, at: Date.now() })
  await until(() => ms.doc.getMap('comments').has('u1:c1'), { what: 'comment at the teacher' })
  ms.doc.getMap('comments').set('u1:c1', { text: 'Is this right?', anchor: 4, at: Date.now(), resolved: true })
  await until(() => (ana.doc.getMap('comments').get('u1:c1') as { resolved?: boolean }).resolved === true, { what: 'resolved by the teacher' })
  ana.doc.getMap('comments').set('t1:c2', { text: 'forged', at: Date.now() })
  assert.match(await within(ana.closed, DEADLINE_MS, 'refusal'), /^forbidden-write: comments\/t1:c2/)
})

test('board elements by author with z-order; the teacher\'s lock freezes students', async () => {
  const ana = await open(server, 's1/board/b1', student('u1'))
  const ben = await open(server, 's1/board/b1', student('u2'))
  const ms = await open(server, 's1/board/b1', teacher('t1'))
  ana.doc.getMap('elements').set('u1:e1', { kind: 'rect', x: 1, y: 2, w: 30, h: 20, color: '#f00', z: 2 })
  ben.doc.getMap('elements').set('u2:e1', { kind: 'path', points: [0, 0, 5, 5], color: '#00f', z: 1 })
  await until(() => ms.doc.getMap('elements').size === 2, { what: 'both elements at the teacher' })
  const order = [...ms.doc.getMap('elements').entries()].sort(([, a], [, b]) => (a as { z: number }).z - (b as { z: number }).z).map(([k]) => k)
  assert.equal(order, ['u2:e1', 'u1:e1'])

  ben.doc.getMap('elements').set('u1:e1', { kind: 'rect', color: '#000', z: 9 })
  assert.match(await within(ben.closed, DEADLINE_MS, 'refusal'), /^forbidden-write: elements\/u1:e1/)

  ms.doc.getMap('meta').set('locked', true)
  await until(() => ana.doc.getMap('meta').get('locked') === true, { what: 'lock at ana' })
  ana.doc.getMap('elements').set('u1:e2', { kind: 'text', text: 'late', color: '#000', z: 3 })
  assert.match(await within(ana.closed, DEADLINE_MS, 'frozen refusal'), /^frozen: board locked/)
  ms.doc.getMap('elements').set('t1:e1', { kind: 'text', text: 'teacher still draws', color: '#000', z: 4 })
  await ms.acknowledged()
})

test('screen-share signaling reaches the addressed user of the board only, from the real sender', async () => {
  const ana = await open(server, 's1/board/share', student('u1'))
  const ms = await open(server, 's1/board/share', teacher('t1'))
  const ben = await open(server, 's1/board/share', student('u2'))
  const heard = (client: typeof ana) => {
    const messages: any[] = []
    client.provider.on('stateless', ({ payload }: { payload: string }) => messages.push(JSON.parse(payload)))
    return messages
  }
  const atTeacher = heard(ms)
  const atAna = heard(ana)
  const atBen = heard(ben)
  ana.provider.sendStateless(JSON.stringify({ type: 'offer', to: 't1', from: 'somebody-else', payload: { sdp: 'v=0' } }))
  await until(() => atTeacher.length === 1, { what: 'offer at the teacher' })
  assert.equal(atTeacher[0], { type: 'offer', to: 't1', from: 'u1', payload: { sdp: 'v=0' } })
  ms.provider.sendStateless(JSON.stringify({ type: 'answer', to: 'u1', payload: { sdp: 'v=0 answer' } }))
  await until(() => atAna.length === 1, { what: 'answer at ana' })
  assert.is(atAna[0].from, 't1')
  ana.provider.sendStateless(JSON.stringify({ type: 'ice', to: 't1', payload: { candidate: 'c1' } }))
  await until(() => atTeacher.length === 2, { what: 'ice at the teacher' })
  assert.is(atBen.length, 0, 'nobody else hears the signaling')
})

test.run()
