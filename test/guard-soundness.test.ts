// Regression tests for the write guard's soundness review, through real servers: what a hostile
// student did with hand-encoded Yjs updates, and that honest editing still goes through whole.
// Each attack is refused, changes nothing in memory or storage, and the document stays openable.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import * as Y from 'yjs'
import { serverWrite } from '../server/writes.ts'
import { craft, encodeGc, itemAt, journalLength, sendRawUpdate, serverJson } from './helpers/guard.ts'
import { useServer } from './helpers/server.ts'
import { closeClients, connect, DEADLINE_MS, open, until, within, type Client } from './helpers/clients.ts'
import { closeYClients, connectY, sendRawYUpdate } from './helpers/ywebsocket.ts'
import { startTestCluster } from './helpers/cluster.ts'
import { mintToken, student, teacher } from './helpers/tokens.ts'

const DOC = 's1/doc/graded'
// Client times must be near the server's clock (CLOCK_SKEW_S, default 5 minutes): these are written
// throughout the suite, so the window is an hour here.
const GRADE_A = { text: 'Grade: A', at: Date.now() }
const GRADE_F = { text: 'Grade: F', at: Date.now() + 1 }

const server = useServer({ CLOCK_SKEW_S: '3600' })
const restart = async () => {
  closeClients()
  closeYClients()
  await server.restart()
}

test.after.each(() => {
  closeClients()
  closeYClients()
})

/** The teacher grades under its own client id; returns that id and the teacher's document. */
async function teacherGrades(name: string): Promise<{ client: number; doc: Y.Doc }> {
  const t1 = await open(server, name, teacher())
  t1.doc.getMap('comments').set('t1:c1', GRADE_A)
  await t1.acknowledged()
  t1.destroy()
  return { client: t1.doc.clientID, doc: t1.doc }
}

/**
 * One struct under `client`, starting at the last clock the server has of it, length 2, whose
 * declared parent is `body` (students may write there). Yjs integrates the unknown second half
 * next to `client`'s last item: the teacher's grade.
 */
const offsetStruct = (client: number, state: number) => craft([{ id: [client, state - 1], parent: 'body', content: { any: [GRADE_A, GRADE_F] } }])

/** What `doc` (a synced copy) would send after `change`. */
function changeOf(doc: Y.Doc, change: (copy: Y.Doc) => void): Uint8Array {
  const copy = new Y.Doc()
  Y.applyUpdate(copy, Y.encodeStateAsUpdate(doc))
  const before = Y.encodeStateVector(copy)
  change(copy)
  return Y.encodeStateAsUpdate(copy, before)
}

const nested = (depth: number): unknown => {
  let value: unknown = 'bottom'
  for (let i = 0; i < depth; i++) value = [value]
  return value
}

/** 150,000 one-character structs in a fresh text of the attacker's own. */
function hugeUpdate(me: number): Uint8Array {
  return craft(
    Array.from({ length: 150_000 }, (_, i) =>
      i === 0 ? { id: [me, 0] as const, parent: 'body', content: { type: 'text' as const } } : { id: [me, i] as const, ...(i === 1 ? { parent: [me, 0] as const } : { origin: [me, i - 1] as const }), content: { string: 'a' } },
    ),
  )
}

/** The review's attacks on a graded document, built from what the attacker has synced; `victim` is the teacher's client id. */
const ATTACKS: Array<{ name: string; build: (doc: Y.Doc, victim: number) => Uint8Array; reason: (victim: number) => string }> = [
  { name: 'offset struct', build: (d, victim) => offsetStruct(victim, Y.getState(d.store, victim)), reason: (victim) => `forbidden-write: client id ${victim} belongs to another user` },
  { name: 'clock squatting', build: (d, victim) => encodeGc(victim, Y.getState(d.store, victim), 1000), reason: (victim) => `forbidden-write: client id ${victim} belongs to another user` },
  { name: 'deep value', build: (d) => changeOf(d, (c) => c.getMap('comments').set('u1:c1', { text: 'hi', at: 1, extra: nested(5000) })), reason: () => 'too-large: a value nests deeper than 16 levels' },
  { name: 'huge update', build: () => hugeUpdate(515151), reason: () => 'too-large: update carries more than 20000 new structs' },
]

test('offset struct under a teacher client id from history (after a restart): refused, the grade stays', async () => {
  const { client } = await teacherGrades(DOC)
  await restart()
  const u1 = await open(server, DOC, student())
  const state = Y.getState(u1.doc.store, client)
  const before = await journalLength(server, DOC)
  sendRawUpdate(u1, offsetStruct(client, state))
  assert.is(await within(u1.closed, DEADLINE_MS, 'refusal'), `forbidden-write: client id ${client} belongs to another user`)
  assert.equal(((await serverJson(server, DOC)) as { comments: Record<string, unknown> }).comments['t1:c1'], GRADE_A)
  assert.is(await journalLength(server, DOC), before, 'nothing journaled')
  await restart()
  assert.equal(((await serverJson(server, DOC)) as { comments: Record<string, unknown> }).comments['t1:c1'], GRADE_A, 'and not after a restart')
})

test('offset struct under the server document’s own client id: refused', async () => {
  const name = 's1/doc/server-id'
  await serverWrite(server.app.hocuspocus, name, (d) => d.getMap('meta').set('title', 'Set by the server'))
  const u1 = await open(server, name, student())
  const [serverClient] = itemAt(u1.doc, 'meta', 'title')
  const state = Y.getState(u1.doc.store, serverClient)
  sendRawUpdate(u1, craft([{ id: [serverClient, state - 1], parent: 'body', content: { any: ['x', 'y'] } }]))
  assert.is(await within(u1.closed, DEADLINE_MS, 'refusal'), `forbidden-write: client id ${serverClient} is the server's`)
  assert.is(((await serverJson(server, name)) as { meta: Record<string, unknown> }).meta.title, 'Set by the server')
})

test('offset struct through /y/: refused with 4403, the grade stays', async () => {
  const name = 's1/doc/graded-y'
  const { client } = await teacherGrades(name)
  const y = connectY(server.url, name, await mintToken(student()))
  await within(y.synced, DEADLINE_MS, 'y-websocket sync')
  sendRawYUpdate(y, offsetStruct(client, Y.getState(y.doc.store, client)))
  const closed = await within(y.closed, DEADLINE_MS, 'close')
  assert.is(closed.code, 4403)
  assert.is(closed.reason, `forbidden-write: client id ${client} belongs to another user`)
  assert.equal(((await serverJson(server, name)) as { comments: Record<string, unknown> }).comments['t1:c1'], GRADE_A)
})

test('clock squatting: a GC under the teacher’s id after a restart is refused; the teacher’s offline edit arrives', async () => {
  const name = 's1/doc/squat'
  const { client, doc } = await teacherGrades(name)
  await restart()
  const u1 = await open(server, name, student())
  sendRawUpdate(u1, encodeGc(client, Y.getState(u1.doc.store, client), 1000))
  assert.is(await within(u1.closed, DEADLINE_MS, 'refusal'), `forbidden-write: client id ${client} belongs to another user`)
  // The teacher was offline meanwhile and edited; the same document reconnects.
  doc.getMap('comments').set('t1:c2', { text: 'Well argued', at: GRADE_F.at + 1 })
  const t1 = await open(server, name, teacher(), { doc })
  await t1.acknowledged()
  const reader = await open(server, name, student('u2'))
  await until(() => reader.doc.getMap('comments').has('t1:c2'), { what: 'the offline edit to reach another reader' })
  assert.equal(reader.doc.getMap('comments').get('t1:c2'), { text: 'Well argued', at: GRADE_F.at + 1 })
})

test('an id seen in presence is its user’s: nobody takes it while they are offline, and their offline edit arrives', async () => {
  const name = 's1/doc/presence-id'
  const doc = new Y.Doc()
  const victim = await open(server, name, teacher(), { doc })
  victim.provider.setAwarenessField('cursor', { at: 1 })
  await until(async () => (await server.app.store.clientOwners(name, [doc.clientID])).get(doc.clientID) === 't1', { what: 'the presence id to be recorded' })
  victim.destroy()
  const u1 = await open(server, name, student())
  sendRawUpdate(u1, craft([{ id: [doc.clientID, 0], parent: 'comments', parentSub: 'u1:c1', content: { any: [{ text: 'mine now', at: Date.now() }] } }]))
  assert.is(await within(u1.closed, DEADLINE_MS, 'refusal'), `forbidden-write: client id ${doc.clientID} belongs to another user`)
  doc.getMap('comments').set('t1:c1', GRADE_A)
  const back = await open(server, name, teacher(), { doc })
  await back.acknowledged()
  assert.equal(((await serverJson(server, name)) as { comments: Record<string, unknown> }).comments, { 't1:c1': GRADE_A })
})

test('a value nested 5,000 deep is refused before the journal; the room still opens after a restart', async () => {
  const name = 's1/chat/deep'
  const u1 = await open(server, name, student())
  let deep: unknown = 'bottom'
  for (let i = 0; i < 5000; i++) deep = [deep]
  const copy = new Y.Doc()
  Y.applyUpdate(copy, Y.encodeStateAsUpdate(u1.doc))
  const before = Y.encodeStateVector(copy)
  copy.getArray('messages').push([{ id: 'm1', author: 'u1', text: 'hi', at: Date.now(), extra: deep }])
  const update = Y.encodeStateAsUpdate(copy, before)
  assert.throws(() => Y.applyUpdate(new Y.Doc(), update), 'the update really cannot be read back')
  const journaled = await journalLength(server, name)
  sendRawUpdate(u1, update)
  assert.is(await within(u1.closed, DEADLINE_MS, 'refusal'), 'too-large: a value nests deeper than 16 levels')
  assert.is(await journalLength(server, name), journaled, 'nothing journaled')
  await restart()
  const again = await open(server, name, student())
  again.doc.getArray('messages').push([{ id: 'm2', author: 'u1', text: 'still here', at: Date.now() }])
  await again.acknowledged()
})

test('one update of 150,000 structs is refused by the struct cap', async () => {
  const name = 's1/doc/huge'
  const u1 = await open(server, name, student())
  sendRawUpdate(u1, hugeUpdate(424242))
  assert.is(await within(u1.closed, DEADLINE_MS, 'refusal'), 'too-large: update carries more than 20000 new structs')
  assert.is(((await serverJson(server, name)) as { body: string }).body, '')
})

test('every attack through /y/: closed with its reason, nothing stored', async () => {
  const name = 's1/doc/graded-y-all'
  const { client: victim } = await teacherGrades(name)
  for (const attack of ATTACKS) {
    const y = connectY(server.url, name, await mintToken(student()))
    await within(y.synced, DEADLINE_MS, `y-websocket sync before ${attack.name}`)
    const journaled = await journalLength(server, name)
    sendRawYUpdate(y, attack.build(y.doc, victim))
    const closed = await within(y.closed, DEADLINE_MS, `close after ${attack.name}`)
    assert.is(closed.reason, attack.reason(victim), attack.name)
    assert.is(closed.code, attack.reason(victim).startsWith('too-large') ? 4413 : 4403, attack.name)
    assert.is(await journalLength(server, name), journaled, `${attack.name}: nothing journaled`)
    y.destroy()
  }
  assert.equal(((await serverJson(server, name)) as { comments: Record<string, unknown> }).comments, { 't1:c1': GRADE_A })
})

test('honest concurrent editing: two users typing at once, each deleting the other’s text, are accepted whole', async () => {
  const name = 's1/doc/together'
  const t1 = await open(server, name, teacher())
  const u1 = await open(server, name, student())
  const refusals: string[] = []
  void t1.closed.then((reason) => refusals.push(`t1: ${reason}`))
  void u1.closed.then((reason) => refusals.push(`u1: ${reason}`))
  const textOf = (c: Client) => {
    const body = c.doc.getXmlFragment('body')
    if (body.length === 0) body.insert(0, [new Y.XmlText()])
    return body.get(0) as Y.XmlText
  }
  textOf(t1).insert(0, 'teacher ')
  await t1.acknowledged()
  await until(() => u1.doc.getXmlFragment('body').length > 0, { what: 'the shared paragraph' })
  for (let round = 0; round < 20; round++) {
    const a = textOf(t1)
    const b = textOf(u1)
    a.insert(Math.floor(a.length / 2), `T${round} `)
    b.insert(b.length, `S${round} `)
    if (round % 3 === 2) {
      a.delete(a.length - 3, 3) // the student's latest words, as the teacher sees them
      b.delete(0, 2) // the teacher's first characters
    }
  }
  await Promise.all([t1.acknowledged(), u1.acknowledged()])
  await until(() => textOf(t1).toString() === textOf(u1).toString(), { what: 'convergence' })
  assert.equal(refusals, [])
  const stored = ((await serverJson(server, name)) as { body: string }).body
  assert.ok(stored.includes(textOf(t1).toString()), 'the server holds what both see')
})

test('two instances: every attack under the client id of a teacher live on the other instance is refused', async () => {
  const cluster = await startTestCluster('soundness', 2, { env: { CLOCK_SKEW_S: '3600' } })
  if (!cluster) return
  try {
    const [a, b] = cluster.instances
    const name = 's1/doc/cluster-grade'
    const t1 = connect(a.url, name, await mintToken(teacher()))
    await within(t1.synced, DEADLINE_MS, 'teacher sync')
    t1.doc.getMap('comments').set('t1:c1', GRADE_A)
    await t1.acknowledged()
    const u1 = connect(b.url, name, await mintToken(student()))
    await within(u1.synced, DEADLINE_MS, 'student sync')
    await until(() => u1.doc.getMap('comments').has('t1:c1'), { what: 'the grade to reach the other instance' })
    const client = t1.doc.clientID
    u1.destroy()
    for (const attack of ATTACKS) {
      const attacker = connect(b.url, name, await mintToken(student()))
      await within(attacker.synced, DEADLINE_MS, `sync before ${attack.name}`)
      await until(() => Y.getState(attacker.doc.store, client) > 0, { what: 'the teacher’s changes' })
      sendRawUpdate(attacker, attack.build(attacker.doc, client))
      assert.is(await within(attacker.closed, DEADLINE_MS, `refusal of ${attack.name}`), attack.reason(client), attack.name)
      attacker.destroy()
    }
    // The teacher keeps working on the first instance; a fresh reader on the second sees A and the new comment.
    t1.doc.getMap('comments').set('t1:c2', { text: 'See me', at: Date.now() })
    await t1.acknowledged()
    const reader = connect(b.url, name, await mintToken(student('u2')))
    await within(reader.synced, DEADLINE_MS, 'reader sync')
    await until(() => reader.doc.getMap('comments').has('t1:c2'), { what: 'the new comment' })
    assert.equal(reader.doc.getMap('comments').get('t1:c1'), GRADE_A)
  } finally {
    closeClients()
    await cluster.stop()
  }
})

test.run()
