// The typed client helpers against a real server: rules checked locally, writes that land,
// and recovery when the server refuses a change the local copy holds.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import WebSocket from 'ws'
import * as Y from 'yjs'
import { startServer, type TestServer } from './helpers/server.ts'
import { eventually, within } from './helpers/clients.ts'
import { mintToken, student, teacher } from './helpers/tokens.ts'
import { Session, NotAllowed, PollClient, ChatClient, ExamClient, DocClient, ClassClient, type Recovery, type Refusal } from '../docs-model/client/index.ts'
import { serverWrite } from '../server/writes.ts'

let server: TestServer
const sessions: Session[] = []

test.before(async () => {
  server = await startServer()
})
test.after.each(() => {
  for (const s of sessions.splice(0)) s.destroy()
})
test.after(async () => {
  await server.stop()
})

async function session(claims: Parameters<typeof mintToken>[0]): Promise<Session> {
  const s = new Session({ url: server.url, token: await mintToken(claims), WebSocketPolyfill: WebSocket })
  sessions.push(s)
  return s
}

test('a student votes through the typed poll helper; the rule for tallies is refused locally', async () => {
  const t = new PollClient(await session(teacher()), 's1', 'lunch')
  await within(t.poll.ready, 5000, 'teacher poll')
  t.setup('Lunch?', ['pizza', 'soup', 'salad'])
  const s = new PollClient(await session(student('u1')), 's1', 'lunch')
  await within(Promise.all([s.poll.ready, s.ballot.ready]), 5000, 'student poll and ballot')
  await eventually(() => s.meta().options.length === 3, 5000, 'options at the student')
  assert.ok(s.ballot.canWrite('ballot/choice'))
  assert.not.ok(s.poll.canWrite('tallies/0'))
  assert.throws(() => s.poll.write('tallies/0', (doc) => doc.getMap('tallies').set('0', 5)), (e: unknown) => e instanceof NotAllowed)
  s.vote(1)
  await eventually(() => !s.ballot.pending, 5000, 'ballot acknowledged')
  const stored = await server.app.peek('s1/poll/lunch/ballot/u1')
  assert.is(stored.getMap('ballot').get('choice'), 1)
})

test('chat: send, read receipts, typing', async () => {
  const a = new ChatClient(await session(student('u1')), 's1/chat/room1')
  const b = new ChatClient(await session(student('u2')), 's1/chat/room1')
  await within(Promise.all([a.handle.ready, b.handle.ready]), 5000, 'both open')
  const sent = a.send('hello')
  await eventually(() => b.messages().some((m) => m.id === sent.id), 5000, 'message at b')
  b.markRead(sent.id)
  await eventually(() => a.readBy(sent.id).includes('u2'), 5000, 'read receipt at a')
  b.typing(true)
  await eventually(() => a.typers().length === 1, 5000, 'typing indicator at a')
})

test('doc comments and classroom activity through the typed helpers', async () => {
  const t = new DocClient(await session(teacher()), 's1/doc/commented')
  const s = new DocClient(await session(student('u1')), 's1/doc/commented')
  await within(Promise.all([t.handle.ready, s.handle.ready]), 5000, 'both open')
  const mine = s.comment('Is this right?')
  await eventually(() => t.comments().some(([key]) => key === mine), 5000, 'comment at the teacher')
  const theirs = t.comment('See page 4')
  await eventually(() => s.comments().some(([key]) => key === theirs), 5000, 'comment at the student')
  assert.throws(() => s.resolve(theirs), (e: unknown) => e instanceof NotAllowed)
  t.resolve(mine)
  await eventually(() => s.comments().find(([key]) => key === mine)?.[1].resolved === true, 5000, 'resolved at the student')

  const pupil = new ClassClient(await session(student('u1', { classes: ['7a'] })), 's1', '7a')
  await within(pupil.handle.ready, 5000, 'class open')
  pupil.report('active', { handRaised: true })
  await eventually(() => !pupil.handle.pending, 5000, 'activity accepted')
  assert.not.ok(pupil.handle.canWrite('actions/lock'))
  const stored = (await server.app.peek('s1/class/7a')).getMap('activity').get('u1') as { handRaised?: boolean }
  assert.is(stored.handRaised, true)
})

test('a refused change drops the local copy, reloads it and reports what was not accepted', async () => {
  const s = await session(student('u1'))
  const doc = s.open('s1/doc/recover')
  await within(doc.ready, 5000, 'open')
  doc.doc.getXmlFragment('body').insert(0, [new Y.XmlText('kept')])
  await eventually(() => !doc.pending, 5000, 'accepted edit')
  const recovered = new Promise<Recovery>((resolve) => doc.on('recovered', resolve))
  // Bypass the helper, as a misbehaving client would: the server refuses and closes.
  doc.doc.getMap('comments').set('t1:c1', { text: 'not mine', at: 1 })
  const recovery = await within(recovered, 5000, 'recovery')
  assert.match(recovery.reason, /^forbidden-write: comments\/t1:c1/)
  assert.equal(recovery.notAccepted, ['comments/t1:c1'])
  assert.is(doc.doc.getMap('comments').size, 0)
  assert.ok(doc.doc.getXmlFragment('body').toString().includes('kept'), 'accepted content survives the reload')
})

test('answers given offline to an exam that closed meanwhile come back as frozen, and the app learns which', async () => {
  await serverWrite(server.app.hocuspocus, 's1/exam/closing', (doc) => {
    doc.getMap('meta').set('title', 'Quiz')
    doc.getMap('meta').set('status', 'open')
    doc.getArray('questions').push([{ prompt: 'Q1', choices: ['a', 'b'] }, { prompt: 'Q2', choices: ['a', 'b'] }])
  })
  const s = await session(student('u1'))
  const exam = new ExamClient(s, 's1', 'closing')
  await within(Promise.all([exam.exam.ready, exam.sheet.ready]), 5000, 'exam open')
  exam.answer(0, 1)
  await eventually(() => !exam.sheet.pending, 5000, 'first answer accepted')

  s.socket.disconnect()
  await eventually(() => s.state() === 'offline', 5000, 'offline')
  exam.answer(1, 0)
  await serverWrite(server.app.hocuspocus, 's1/exam/closing', (doc) => doc.getMap('meta').set('status', 'closed'))
  const recovered = new Promise<Recovery>((resolve) => exam.sheet.on('recovered', resolve))
  void s.socket.connect()
  const recovery = await within(recovered, 10_000, 'recovery')
  assert.match(recovery.reason, /^frozen:/)
  assert.ok(recovery.notAccepted.includes('answers/1'), `not accepted: ${recovery.notAccepted.join(', ')}`)
  assert.equal(exam.answers(), { '0': 1 }, 'the accepted answer stays, the late one is gone')
})

test('pending: local inserts and deletions the server has not acknowledged, not what came from the server', async () => {
  const mine = await session(student('u1'))
  const doc = mine.open('s1/doc/pending')
  await within(doc.ready, 5000, 'open')
  const body = () => doc.doc.getXmlFragment('body')
  body().insert(0, [new Y.XmlText('draft')])
  await eventually(() => !doc.pending, 5000, 'the insert acknowledged')
  assert.equal(doc.pendingPaths(), [])

  const other = await session(teacher('t1'))
  const theirs = other.open('s1/doc/pending')
  await within(theirs.ready, 5000, 'teacher open')
  theirs.doc.getMap('meta').set('title', 'Essay')
  await eventually(() => doc.doc.getMap('meta').get('title') === 'Essay', 5000, 'the teacher’s change arrives')
  assert.not.ok(doc.pending, 'a change from the server is not pending')

  mine.socket.disconnect()
  await eventually(() => mine.state() === 'offline', 5000, 'offline')
  ;(body().get(0) as Y.XmlText).delete(0, 2)
  assert.ok(doc.pending, 'a deletion alone is pending')
  assert.equal(doc.pendingPaths(), ['body'])
  const copy = new Y.Doc()
  Y.applyUpdate(copy, Y.encodeStateAsUpdate(theirs.doc))
  Y.applyUpdate(copy, doc.exportPending())
  assert.is(copy.getXmlFragment('body').toString(), 'aft', 'exportPending() carries the deletion')
  void mine.socket.connect()
  await eventually(() => !doc.pending, 5000, 'the deletion acknowledged')
})

test('an opening refusal is reported and the document offers no writes', async () => {
  const s = await session(student('u1'))
  const key = s.open('s1/exam/e1/key')
  const { reason, pending } = await within(new Promise<Refusal>((resolve) => key.on('refused', resolve)), 5000, 'refusal')
  assert.match(reason, /^forbidden/)
  assert.equal(pending, [], 'nothing written, nothing held')
  assert.not.ok(key.canWrite('key/0'))
})

test.run()
