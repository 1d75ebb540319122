// Hand-made hostile updates, built from Yjs' encoding, against the guard's decision and against
// a real server. Each attack is first shown to work on an unguarded copy of the document, so a
// guard that lets it through fails the test.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import * as Y from 'yjs'
import { resolve } from '../docs-model/registry.ts'
import { writeContext } from '../docs-model/rules.ts'
import type { Identity } from '../docs-model/types.ts'
import { checkUpdate } from '../server/guard/check.ts'
import { RelatedDocs } from '../server/facts.ts'
import { serverWrite } from '../server/writes.ts'
import { craft, itemAt, journalLength, sendRawUpdate, serverJson } from './helpers/guard.ts'
import { useServer } from './helpers/server.ts'
import { closeClients, connect, DEADLINE_MS, within } from './helpers/clients.ts'
import { closeYClients, connectY } from './helpers/ywebsocket.ts'
import { claims, mintToken, student, teacher } from './helpers/tokens.ts'

const identity = (sub: string, role: Identity['role']): Identity => ({ sub, name: sub, role, schools: ['s1'], classes: [], children: [], buses: [] })
const u1 = identity('u1', 'student')
const u2 = identity('u2', 'student')
const t1 = identity('t1', 'teacher')

/** A document as the server holds it, written by a client id of its own. */
function serverDoc(client: number, build: (doc: Y.Doc) => void): Y.Doc {
  const doc = new Y.Doc()
  doc.clientID = client
  build(doc)
  return doc
}

const pollDoc = () =>
  serverDoc(1, (d) => {
    d.getMap('meta').set('question', 'Best fruit?')
    d.getMap('meta').set('options', ['apple', 'pear'])
    d.getMap('tallies').set('0', 3)
    d.getMap('tallies').set('1', 1)
  })

const chatDoc = () => {
  const doc = new Y.Doc()
  const as = (client: number, change: () => void) => {
    doc.clientID = client
    doc.transact(change)
  }
  as(10, () => doc.getArray('messages').push([1, 2, 3].map((i) => ({ id: `a${i}`, author: 'u1', text: 'mine', at: i }))))
  as(11, () => doc.getArray('messages').push([{ id: 'b1', author: 'u2', text: 'theirs', at: 4 }]))
  return doc
}

const related = new RelatedDocs((name) => (name === 's1/exam/e1' ? serverDoc(5, (d) => d.getMap('meta').set('status', 'open')) : undefined), async () => new Y.Doc())

function verdict(name: string, doc: Y.Doc, user: Identity, update: Uint8Array): string | null {
  const { ref, surface } = resolve(name)
  return checkUpdate(update, surface, writeContext(user, ref, doc, related.facts))
}

/** What the update would do to an unguarded copy of the document. */
function unguarded(doc: Y.Doc, update: Uint8Array): Y.Doc {
  const copy = new Y.Doc()
  Y.applyUpdate(copy, Y.encodeStateAsUpdate(doc))
  Y.applyUpdate(copy, update)
  return copy
}

test('a write hidden behind an origin in the server document resolves to its real place', () => {
  const doc = pollDoc()
  const update = craft([{ id: [99, 0], origin: itemAt(doc, 'tallies', '0'), content: { any: [999] } }])
  assert.is(unguarded(doc, update).getMap('tallies').get('0'), 999, 'the attack works without the guard')
  assert.is(verdict('s1/poll/p1', doc, t1, update), 'forbidden-write: tallies/0')
})

test('a write hidden behind an origin in the same update, also through a chain and a right origin', () => {
  const doc = pollDoc()
  const chain = craft([
    { id: [99, 0], parent: 'meta', parentSub: 'question', content: { any: ['Allowed'] } },
    { id: [98, 0], origin: itemAt(doc, 'tallies', '1'), content: { any: [500] } },
    { id: [98, 1], origin: [98, 0], content: { any: [501] } },
  ])
  assert.is(unguarded(doc, chain).getMap('tallies').get('1'), 501, 'the attack works without the guard')
  assert.is(verdict('s1/poll/p1', doc, t1, chain), 'forbidden-write: tallies/1')
  const right = craft([
    { id: [97, 0], rightOrigin: [97, 1], content: { any: [7] } },
    { id: [97, 1], parent: 'tallies', parentSub: '0', content: { any: [8] } },
  ])
  // Yjs looks up a same-client right origin without waiting for it, and throws halfway through.
  assert.throws(() => unguarded(doc, right), 'Yjs cannot apply it')
  assert.is(verdict('s1/poll/p1', doc, t1, right), 'forbidden-write: struct 97:0 names a later change of its own client')
  // An origin resolved within the update still lands where its chain starts.
  const allowed = craft([
    { id: [96, 0], parent: 'meta', parentSub: 'question', content: { any: ['One'] } },
    { id: [96, 1], origin: [96, 0], content: { any: ['Two'] } },
  ])
  assert.is(verdict('s1/poll/p1', doc, t1, allowed), null)
  assert.is(unguarded(doc, allowed).getMap('meta').get('question'), 'Two')
})

test('a right origin created by the same update must lie right of the origin; honest inserts before and between new items pass', () => {
  const doc = chatDoc()
  const mine = (id: string) => ({ id, author: 'u1', text: 'x', at: 5 })
  const ids = (d: Y.Doc) => d.getArray('messages').toArray().map((m) => (m as { id: string }).id)
  // y claims to sit after a3 and before x, but x goes before a2: Yjs puts y wherever its scan ends.
  const crossed = craft([
    { id: [50, 0], rightOrigin: [10, 1], content: { any: [mine('x')] } },
    { id: [50, 1], origin: [10, 2], rightOrigin: [50, 0], content: { any: [mine('y')] } },
  ])
  const placed = ids(unguarded(doc, crossed))
  assert.ok(placed.indexOf('y') > placed.indexOf('x'), `y lands right of its claimed right origin (${placed})`)
  assert.is(verdict('s1/chat/c1', doc, u1, crossed), 'forbidden-write: messages (right origin is not right of the origin)')
  // x after a3, then w typed before x: w's right origin is new, and its origin is x's origin.
  const before = craft([
    { id: [51, 0], origin: [10, 2], rightOrigin: [11, 0], content: { any: [mine('x')] } },
    { id: [51, 1], origin: [10, 2], rightOrigin: [51, 0], content: { any: [mine('w')] } },
  ])
  assert.is(verdict('s1/chat/c1', doc, u1, before), null)
  assert.equal(ids(unguarded(doc, before)), ['a1', 'a2', 'a3', 'w', 'x', 'b1'])
  // a and c, then b between them, then z between b and c: z's neighbours are both new.
  const between = craft([
    { id: [52, 0], origin: [10, 2], rightOrigin: [11, 0], content: { any: [mine('a'), mine('c')] } },
    { id: [52, 2], origin: [52, 0], rightOrigin: [52, 1], content: { any: [mine('b')] } },
    { id: [52, 3], origin: [52, 2], rightOrigin: [52, 1], content: { any: [mine('z')] } },
  ])
  assert.is(verdict('s1/chat/c1', doc, u1, between), null)
  assert.equal(ids(unguarded(doc, between)), ['a1', 'a2', 'a3', 'a', 'b', 'z', 'c', 'b1'])
})

test('overwriting tallies and a student status is refused; a student may only submit', () => {
  const doc = pollDoc()
  const tally = craft([{ id: [99, 0], parent: 'tallies', parentSub: '0', content: { any: [100] } }])
  assert.is(verdict('s1/poll/p1', doc, t1, tally), 'forbidden-write: tallies/0')
  const exam = serverDoc(2, (d) => d.getMap('status').set('state', 'in_progress'))
  const state = (value: string) => craft([{ id: [99, 0], origin: itemAt(exam, 'status', 'state'), content: { any: [value] } }], [{ client: 2, clock: 0, len: 1 }])
  assert.is(verdict('s1/exam/e1/student/u1', exam, u1, state('in_progress')), 'forbidden-write: status/state (a student may only set state to "submitted")')
  assert.is(verdict('s1/exam/e1/student/u1', exam, u1, state('submitted')), null)
  const score = craft([{ id: [99, 0], parent: 'status', parentSub: 'score', content: { any: [100] } }])
  assert.is(verdict('s1/exam/e1/student/u1', exam, u1, score), 'forbidden-write: status/score')
  assert.is(verdict('s1/exam/e1/student/u2', exam, u2, score), 'forbidden-write: status/score')
})

test("deleting other users' chat messages is refused, also inside a merged run; own messages may go", () => {
  const doc = chatDoc()
  const theirs = craft([], [{ client: 11, clock: 0, len: 1 }])
  assert.is(unguarded(doc, theirs).getArray('messages').length, 3, 'the attack works without the guard')
  assert.is(verdict('s1/chat/c1', doc, u1, theirs), 'forbidden-write: messages (not yours to delete)')
  assert.is(verdict('s1/chat/c1', doc, u2, theirs), null)
  assert.is(verdict('s1/chat/c1', doc, u1, craft([], [{ client: 10, clock: 1, len: 1 }])), null)
  assert.is(verdict('s1/chat/c1', doc, u2, craft([], [{ client: 10, clock: 2, len: 1 }])), 'forbidden-write: messages (not yours to delete)')
  assert.is(verdict('s1/chat/c1', doc, t1, craft([], [{ client: 10, clock: 0, len: 3 }, { client: 11, clock: 0, len: 1 }])), null)
})

test('a forged author is refused, even one among many values', () => {
  const doc = chatDoc()
  const mine = (id: string) => ({ id, author: 'u1', text: 'x', at: 1 })
  const forged = craft([{ id: [99, 0], origin: [11, 0], content: { any: [mine('c1'), { id: 'c2', author: 'u2', text: 'I quit', at: 1 }, mine('c3')] } }])
  assert.is(verdict('s1/chat/c1', doc, u1, forged), 'forbidden-write: messages (author must be the sender)')
  assert.is(verdict('s1/chat/c1', doc, u1, craft([{ id: [99, 0], origin: [11, 0], content: { any: [mine('c1'), mine('c2')] } }])), null)
})

test('type confusion: list items in a map, map entries in a list, types and text where JSON is declared, subdocuments, non-type parents', () => {
  const board = new Y.Doc()
  const cases: Array<[string, Y.Doc, Identity, Uint8Array, string]> = [
    ['s1/board/b1', board, u1, craft([{ id: [99, 0], parent: 'elements', content: { any: [{ kind: 'rect', color: 'red', z: 1 }] } }]), 'forbidden-write: elements (elements is declared as a map)'],
    ['s1/chat/c1', chatDoc(), u1, craft([{ id: [99, 0], parent: 'messages', parentSub: 'x', content: { any: [{ id: 'x', author: 'u1', text: 'x', at: 1 }] } }]), 'forbidden-write: messages/x (messages is declared as an array)'],
    ['s1/chat/c1', chatDoc(), u1, craft([{ id: [99, 0], parent: 'messages', content: { type: 'map' } }]), 'forbidden-write: messages (value must be plain JSON)'],
    ['s1/board/b1', board, u1, craft([{ id: [99, 0], parent: 'elements', parentSub: 'u1:e1', content: { string: 'rect' } }]), 'forbidden-write: elements/u1:e1 (value must be plain JSON)'],
    ['s1/board/b1', board, u1, craft([{ id: [99, 0], parent: 'elements', parentSub: 'u1:e1', content: { subdoc: 'guid' } }]), 'forbidden-write: elements/u1:e1 (subdocuments are not allowed)'],
    // Valid Yjs that no editor renders: a string, a value or a map straight in the rich-text body.
    ['s1/doc/d1', new Y.Doc(), u1, craft([{ id: [99, 0], parent: 'body', content: { string: 'hi' } }]), 'forbidden-write: body (a string does not belong in an XML fragment)'],
    ['s1/doc/d1', new Y.Doc(), u1, craft([{ id: [99, 0], parent: 'body', content: { any: [1] } }]), 'forbidden-write: body (a plain value does not belong in an XML fragment)'],
    ['s1/doc/d1', new Y.Doc(), u1, craft([{ id: [99, 0], parent: 'body', content: { type: 'map' } }]), 'forbidden-write: body (a shared type does not belong in an XML fragment)'],
  ]
  for (const [name, doc, user, update, reason] of cases) assert.is(verdict(name, doc, user, update), reason, reason)
  // A parent that is not a type leaves the child without one: Yjs turns it into a GC, with no effect
  // anywhere, so the guard judges only the parent (here a chat message u1 may post).
  const orphan = craft([{ id: [99, 0], parent: 'messages', content: { any: [{ id: 'm1', author: 'u1', text: 'x', at: 1 }] } }, { id: [98, 0], parent: [99, 0], parentSub: 'k', content: { any: [2] } }])
  const applied = unguarded(new Y.Doc(), orphan)
  assert.instance(applied.store.clients.get(98)![0], Y.GC)
  assert.is(verdict('s1/chat/c1', chatDoc(), u1, orphan), null)
})

test('proctoring events are append only: inserting before an earlier event is refused, appending passes', () => {
  const doc = serverDoc(20, (d) => d.getArray('events').push([{ type: 'tab_switch', at: 1 }]))
  const edit = (change: (d: Y.Doc) => void) => {
    const client = new Y.Doc()
    Y.applyUpdate(client, Y.encodeStateAsUpdate(doc))
    const before = Y.encodeStateVector(client)
    change(client)
    return Y.encodeStateAsUpdate(client, before)
  }
  const rewrite = edit((d) => d.getArray('events').insert(0, [{ type: 'copy_paste', at: 0 }]))
  assert.is((unguarded(doc, rewrite).getArray('events').get(0) as { type: string }).type, 'copy_paste', 'the attack works without the guard')
  assert.is(verdict('s1/exam/e1/student/u1', doc, u1, rewrite), 'forbidden-write: events (append only)')
  const appended = edit((d) => d.getArray('events').push([{ type: 'copy_paste', at: 2 }, { type: 'fullscreen_exit', at: 3 }]))
  assert.is(verdict('s1/exam/e1/student/u1', doc, u1, appended), null)
  const start = new Y.Doc()
  start.getArray('events').push([{ type: 'tab_switch', at: 1 }])
  assert.is(verdict('s1/exam/e1/student/u1', new Y.Doc(), u1, Y.encodeStateAsUpdate(start)), null, 'the first event of an empty log')
})

test('oversized and malformed values are refused by the layout schemas', () => {
  const chat = chatDoc()
  const long = craft([{ id: [99, 0], origin: [11, 0], content: { any: [{ id: 'z', author: 'u1', text: 'x'.repeat(5000), at: 1 }] } }])
  assert.is(verdict('s1/chat/c1', chat, u1, long), 'forbidden-write: messages (invalid value at text: Too big: expected string to have <=4000 characters)')
  const points = craft([{ id: [99, 0], parent: 'elements', parentSub: 'u1:e', content: { any: [{ kind: 'pen', points: new Array(20001).fill(1), color: 'red', z: 1 }] } }])
  assert.is(verdict('s1/board/b1', new Y.Doc(), u1, points), 'forbidden-write: elements/u1:e (invalid value at points: Too big: expected array to have <=20000 items)')
})

test('a struct the server has the start of is checked where Yjs puts the rest of it (offset > 0)', () => {
  const grade = (text: string) => ({ text, at: 1 })
  const doc = serverDoc(7, (d) => d.getMap('comments').set('t1:c1', grade('Grade: A')))
  const state = Y.getState(doc.store, 7)
  // Declared parent `body` (students may write there), but the new half lands after 7's last item.
  const update = craft([{ id: [7, state - 1], parent: 'body', content: { any: [grade('Grade: A'), grade('Grade: F')] } }])
  const stored = new Y.Doc()
  Y.applyUpdate(stored, Y.encodeStateAsUpdate(unguarded(doc, update)))
  assert.equal(stored.getMap('comments').get('t1:c1'), grade('Grade: F'), 'the attack works without the guard, in storage')
  assert.is(verdict('s1/doc/d1', doc, u1, update), `forbidden-write: struct 7:${state - 1} continues an item that lives elsewhere`)
})

test('map keys are bounded: a comment under a 1,000-character key is refused', () => {
  const key = `u1:${'k'.repeat(1000)}`
  const update = craft([{ id: [99, 0], parent: 'comments', parentSub: key, content: { any: [{ text: 'hi', at: 1 }] } }])
  assert.is(verdict('s1/doc/d1', new Y.Doc(), u1, update), 'too-large: a map key of 1003 characters exceeds 512')
})

test('an honest resend of a struct that grew (the server has its first half) is accepted', () => {
  const writer = new Y.Doc()
  writer.clientID = 50
  const text = new Y.XmlText()
  writer.getXmlFragment('body').insert(0, [text])
  const server = new Y.Doc()
  Y.applyUpdate(server, Y.encodeStateAsUpdate(writer))
  const before = Y.encodeStateVector(server)
  text.insert(0, 'a')
  Y.applyUpdate(server, Y.encodeStateAsUpdate(writer, before))
  text.insert(1, 'b') // Yjs merges "a" and "b" into one struct
  // A sync step 2 computed against the older state: it starts inside what the server has.
  const grown = Y.encodeStateAsUpdate(writer, before)
  assert.is(verdict('s1/doc/d1', server, u1, grown), null)
  Y.applyUpdate(server, grown)
  assert.is(server.getXmlFragment('body').toString(), 'ab')
})

test('fail closed: unknown origins, unknown deletes, gaps, cycles and garbage bytes', () => {
  const doc = pollDoc()
  assert.is(verdict('s1/poll/p1', doc, t1, craft([{ id: [99, 0], origin: [42, 7], content: { any: [1] } }])), 'unavailable: update depends on changes the server does not have (42:0); reconnect to send them first')
  assert.is(verdict('s1/poll/p1', doc, t1, craft([], [{ client: 1, clock: 100, len: 1 }])), 'forbidden-write: delete of unknown item 1:100')
  assert.is(verdict('s1/poll/p1', doc, t1, craft([{ id: [99, 5], parent: 'meta', parentSub: 'question', content: { any: ['x'] } }])), 'unavailable: update depends on changes the server does not have (99:0); reconnect to send them first')
  const cycle = craft([
    { id: [99, 0], origin: [98, 0], content: { any: [1] } },
    { id: [98, 0], origin: [99, 0], content: { any: [2] } },
  ])
  assert.match(verdict('s1/poll/p1', doc, t1, cycle)!, /^unavailable: update depends on changes the server does not have/)
  assert.match(verdict('s1/poll/p1', doc, t1, new Uint8Array([1, 1, 5, 0, 200, 1, 2]))!, /^bad-message: malformed update/)
})

test('a sync step 2 resending what the server has passes; a replaced map value may be deleted, an unreplaced one not', () => {
  const doc = pollDoc()
  assert.is(verdict('s1/poll/p1', doc, u1, Y.encodeStateAsUpdate(doc)), null, "another user's structs the server has are not changes")
  const ballot = serverDoc(20, (d) => d.getMap('ballot').set('choice', 0))
  const old = itemAt(ballot, 'ballot', 'choice')
  const change = craft([{ id: [21, 0], origin: old, content: { any: [1] } }], [{ client: old[0], clock: old[1], len: 1 }])
  assert.is(verdict('s1/poll/p1/ballot/u1', ballot, u1, change), null)
  // Placed left of the current value, the new one is dropped and the delete removes the vote.
  const sneaky = craft([{ id: [21, 0], rightOrigin: old, content: { any: [1] } }], [{ client: old[0], clock: old[1], len: 1 }])
  assert.is(unguarded(ballot, sneaky).getMap('ballot').has('choice'), false, 'the attack works without the guard')
  assert.is(verdict('s1/poll/p1/ballot/u1', ballot, u1, sneaky), 'forbidden-write: ballot/choice (a map entry with a right origin)')
  // A new value deleted by the same update (hidden in overlapping ranges) replaces nothing.
  const vanishing = craft([{ id: [21, 0], origin: old, content: { any: [1, 1] } }], [
    { client: 21, clock: 0, len: 2 },
    { client: 21, clock: 0, len: 1 },
    { client: old[0], clock: old[1], len: 1 },
  ])
  assert.is(unguarded(ballot, vanishing).getMap('ballot').has('choice'), false, 'the attack works without the guard')
  assert.is(verdict('s1/poll/p1/ballot/u1', ballot, u1, vanishing), 'forbidden-write: ballot/choice')
})

const server = useServer()
test.after.each(() => {
  closeClients()
  closeYClients()
})

test('over a real connection: a hidden tally overwrite and a delete of a classmate\'s message close with the reason; nothing changes', async () => {
  await serverWrite(server.app.hocuspocus, 's1/poll/p9', (d) => d.getMap('tallies').set('0', 3))
  const teacherClient = connect(server.url, 's1/poll/p9', await mintToken(teacher()))
  await within(teacherClient.synced, DEADLINE_MS, 'sync')
  const tally = craft([{ id: [777, 0], origin: itemAt(teacherClient.doc, 'tallies', '0'), content: { any: [999] } }])
  const entries = await journalLength(server, 's1/poll/p9')
  sendRawUpdate(teacherClient, tally)
  assert.is(await within(teacherClient.closed, DEADLINE_MS, 'refusal'), 'forbidden-write: tallies/0')
  assert.equal((await serverJson(server, 's1/poll/p9') as { tallies: unknown }).tallies, { 0: 3 })
  assert.is(await journalLength(server, 's1/poll/p9'), entries)

  const author = connect(server.url, 's1/chat/c9', await mintToken(student('u1')))
  await within(author.synced, DEADLINE_MS, 'sync')
  author.doc.getArray('messages').push([{ id: 'm1', author: 'u1', text: 'mine', at: Date.now() }])
  await author.acknowledged()
  const other = connect(server.url, 's1/chat/c9', await mintToken(student('u2')))
  await within(other.synced, DEADLINE_MS, 'sync')
  sendRawUpdate(other, craft([], [{ client: author.doc.clientID, clock: 0, len: 1 }]))
  assert.is(await within(other.closed, DEADLINE_MS, 'refusal'), 'forbidden-write: messages (not yours to delete)')
  assert.is(author.doc.getArray('messages').length, 1)
  assert.is((await serverJson(server, 's1/chat/c9') as { messages: unknown[] }).messages.length, 1)
})

test("structs under another user's client id are refused, so that user's next changes are not taken as known", async () => {
  const victim = connect(server.url, 's1/doc/ids', await mintToken(student('u1')))
  await within(victim.synced, DEADLINE_MS, 'sync')
  victim.doc.getMap('comments').set('u1:c1', { text: 'first', at: Date.now() })
  await victim.acknowledged()
  const attacker = connect(server.url, 's1/doc/ids', await mintToken(student('u2')))
  await within(attacker.synced, DEADLINE_MS, 'sync')
  const next = Y.getState(victim.doc.store, victim.doc.clientID)
  sendRawUpdate(attacker, craft([{ id: [victim.doc.clientID, next], parent: 'comments', parentSub: 'u2:c1', content: { any: [{ text: 'squat', at: Date.now() }] } }]))
  assert.is(await within(attacker.closed, DEADLINE_MS, 'refusal'), `forbidden-write: client id ${victim.doc.clientID} belongs to another user`)
  victim.doc.getMap('comments').set('u1:c2', { text: 'second', at: Date.now() })
  await victim.acknowledged()
  assert.equal(Object.keys((await serverJson(server, 's1/doc/ids') as { comments: object }).comments).sort(), ['u1:c1', 'u1:c2'])
})

test('a stock y-websocket client is guarded the same way', async () => {
  const client = connectY(server.url, 's1/poll/p9', await mintToken(teacher()))
  await within(client.synced, DEADLINE_MS, 'sync')
  client.doc.getMap('tallies').set('0', 1000)
  const { code, reason } = await within(client.closed, DEADLINE_MS, 'refusal')
  assert.is(reason, 'forbidden-write: tallies/0')
  assert.is(code, 4403)
  assert.equal((await serverJson(server, 's1/poll/p9') as { tallies: unknown }).tallies, { 0: 3 })
})

test('a token named like the server is still a client: its writes to server paths are refused', async () => {
  const impostor = connect(server.url, 's1/poll/p9', await mintToken(claims.teacher('server')))
  await within(impostor.synced, DEADLINE_MS, 'sync')
  impostor.doc.getMap('tallies').set('1', 50)
  assert.is(await within(impostor.closed, DEADLINE_MS, 'refusal'), 'forbidden-write: tallies/1')
})

test.run()
