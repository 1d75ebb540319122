// Values are held to their layout: an object with a key the layout does not name, a string or
// list over its maximum, or an anchor or event detail of another shape is refused, and nothing
// of it is stored. The honest values Homeroom's own client helpers write are accepted.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import WebSocket from 'ws'
import * as Y from 'yjs'
import { BoardClient, BusClient, ChatClient, ClassClient, DocClient, EmergencyClient, ExamClient, GroupClient, MonitorClient, Session, type Handle } from '../docs-model/client/index.ts'
import { MAX_OPEN_JSON_CHARS } from '../docs-model/common.ts'
import { sendMessage } from '../docs-model/surfaces/chat/surface.ts'
import { serverWrite } from '../server/writes.ts'
import type { Claims } from '../server/identity.ts'
import { closeClients, connect, DEADLINE_MS, until, within, type Client } from './helpers/clients.ts'
import { craft, journalLength, sendRawUpdate, serverJson } from './helpers/guard.ts'
import { useServer } from './helpers/server.ts'
import { admin, claims, mintToken, student, teacher } from './helpers/tokens.ts'

// The generic size limits are raised out of the way: what refuses here is the layout.
const server = useServer({ MAX_VALUE_BYTES: String(64 * 1024 * 1024), MAX_MESSAGE_BYTES: String(8 * 1024 * 1024) })
const sessions: Session[] = []

const driver: Claims = claims.driver('d1', { buses: ['b1'] })
const proctor: Claims = claims.proctor('pr1')
const service: Claims = claims.service('svc')

test.before(async () => {
  const write = (name: string, change: (doc: Y.Doc) => void) => serverWrite(server.app.hocuspocus, name, change)
  await write('s1/exam/e1', (d) => {
    const meta = d.getMap('meta')
    meta.set('title', 'Values quiz')
    meta.set('startsAt', Date.now() - 1000)
    meta.set('durationSec', 3600)
  })
  await until(async () => (await server.app.peek('s1/exam/e1')).getMap('meta').get('status') === 'open', { what: 'the exam opened' })
  await write('s1/group/g1', (d) => {
    const meta = d.getMap('meta')
    for (const [key, value] of Object.entries({ name: 'Chess', maxMembers: 10, isPublic: true, owner: 't1' })) meta.set(key, value)
    d.getMap('members').set('t1', { at: 1 })
  })
  await write('s1/emergency/x1', (d) => {
    const b = d.getMap('broadcast')
    for (const [key, value] of Object.entries({ title: 'Drill', message: 'Gather in the yard', level: 'info', targetRoles: ['student'], by: 'a1', at: Date.now() })) b.set(key, value)
  })
  await write('s1/bus/b1', (d) => d.getMap('route').set('speedLimitKmh', 50))
})
test.after.each(() => {
  closeClients()
  for (const s of sessions.splice(0)) s.destroy()
})

async function session(claims: Claims): Promise<Session> {
  const s = new Session({ url: server.url, token: await mintToken(claims), WebSocketPolyfill: WebSocket })
  sessions.push(s)
  return s
}

/** Waits until the server acknowledged a helper's write, then returns the server's copy. */
async function landed(handle: Handle): Promise<any> {
  await until(() => !handle.pending, { what: `${handle.name} acknowledged` })
  return serverJson(server, handle.name)
}

/** A hostile write to one root of a document. */
interface Change {
  root: string
  apply(client: Client): void
}

/**
 * A hostile client makes `change` (through its Y.Doc, or as a raw update); the connection is
 * closed with `reason`, the journal has no entry of it, and the root it wrote is as it was (the
 * roots the server derives may still catch up with earlier honest writes).
 */
async function refused(name: string, claims: Claims, change: Change, reason: string | RegExp): Promise<void> {
  const client = connect(server.url, name, await mintToken(claims))
  await within(client.synced, DEADLINE_MS, `sync of ${name}`)
  const journal = await journalLength(server, name)
  const root = async () => ((await serverJson(server, name)) as Record<string, unknown>)[change.root]
  const before = await root()
  change.apply(client)
  const got = await within(client.closed, DEADLINE_MS, `refusal on ${name}`)
  if (typeof reason === 'string') assert.is(got, reason)
  else assert.match(got, reason)
  assert.is(await journalLength(server, name), journal, `${name}: nothing journaled`)
  assert.equal(await root(), before, `${name}: the server's ${change.root} is unchanged`)
  client.destroy()
}

const set = (root: string, key: string, value: unknown): Change => ({ root, apply: (c) => c.doc.getMap(root).set(key, value) })
const push = (root: string, value: unknown): Change => ({ root, apply: (c) => c.doc.getArray(root).push([value]) })
const unknownKey = (path: string, key: string, at = '') => `forbidden-write: ${path} (invalid value${at ? ` at ${at}` : ''}: Unrecognized key: "${key}")`
const tooLong = (path: string, at: string, max: number) => `forbidden-write: ${path} (invalid value at ${at}: Too big: expected string to have <=${max} characters)`

test('chat: a message with an extra key is refused however large; the honest message and file land', async () => {
  const chat = new ChatClient(await session(student('u1')), 's1/chat/v1')
  await within(chat.handle.ready, DEADLINE_MS, 'chat open')
  const sent = chat.send('hello')
  assert.equal((await landed(chat.handle)).messages, [sent])
  const withFile = sendMessage(chat.handle.doc, 'u1', 'the worksheet', { name: 'sheet.pdf', size: 2048, url: '/files/s1/abc' })
  assert.ok((await landed(chat.handle)).messages.some((m: { id: string; file?: unknown }) => m.id === withFile && m.file))

  const honest = { id: 'm-x', author: 'u1', text: 'hi', at: Date.now() }
  // The finding: a 1.9 MB key beside the layout's fields.
  await refused('s1/chat/v1', student('u1'), push('messages', { ...honest, pad: 'x'.repeat(1_900_000) }), unknownKey('messages', 'pad'))
  await refused('s1/chat/v1', student('u1'), push('messages', { ...honest, file: { name: 'a', size: 1, url: '/f', thumb: 'x' } }), unknownKey('messages', 'thumb', 'file'))
  await refused('s1/chat/v1', student('u1'), push('messages', { ...honest, text: 'x'.repeat(4001) }), tooLong('messages', 'text', 4000))
  await refused('s1/dm/t1~u1', student('u1'), push('messages', { ...honest, reactions: ['+1'] }), unknownKey('messages', 'reactions'))
})

/** A raw update appending `value` (as JSON text, so a `__proto__` key is an own key that gets encoded) to a list. */
const appendRaw = (root: string, json: string): Change => ({
  root,
  apply: (c) => sendRawUpdate(c, craft([{ id: [c.doc.clientID, Y.getState(c.doc.store, c.doc.clientID)], parent: root, content: { any: [JSON.parse(json)] } }])),
})

test('a key hidden as the prototype of a crafted value is refused, in objects and in open records', async () => {
  // Decoding would make a `__proto__` key's value the object's prototype, out of sight of own
  // keys and schemas; the guard's reader refuses such a value outright.
  const hidden = 'bad-message: malformed update: a value has a __proto__ key'
  const pad = `{"pad":"${'x'.repeat(100_000)}"}`
  await refused('s1/chat/v1', student('u1'), appendRaw('messages', `{"id":"m-p","author":"u1","text":"hi","at":${Date.now()},"__proto__":${pad}}`), hidden)
  await refused(
    's1/exam/e1/student/u3',
    student('u3'),
    appendRaw('events', `{"type":"face_missing","at":${Date.now()},"detail":{"durationSec":4,"__proto__":${pad}}}`),
    hidden,
  )
})

test('doc comments: anchors are a position or a range; other anchors, extra keys and long texts are refused', async () => {
  const doc = new DocClient(await session(student('u1')), 's1/doc/v1')
  await within(doc.handle.ready, DEADLINE_MS, 'doc open')
  const plain = doc.comment('Is this right?')
  const at = doc.comment('Check this word', 4)
  const range = doc.comment('And this sentence', { from: 10, to: 42 })
  const comments = (await landed(doc.handle)).comments
  assert.is(comments[plain].text, 'Is this right?')
  assert.is(comments[at].anchor, 4)
  assert.equal(comments[range].anchor, { from: 10, to: 42 })

  const comment = (anchor: unknown) => ({ text: 'x', at: Date.now(), anchor })
  await refused('s1/doc/v1', student('u1'), set('comments', 'u1:c1', { text: 'x', at: 1, pad: 'y' }), unknownKey('comments/u1:c1', 'pad'))
  await refused('s1/doc/v1', student('u1'), set('comments', 'u1:c1', comment({ from: 1, to: 2, note: 'y'.repeat(100_000) })), unknownKey('comments/u1:c1', 'note', 'anchor'))
  for (const anchor of ['paragraph 3', { from: { path: [1, 2] }, to: 3 }, [1, 2], -1, 1.5, { from: 1 }]) {
    await refused('s1/doc/v1', student('u1'), set('comments', 'u1:c1', comment(anchor)), /^forbidden-write: comments\/u1:c1 \(invalid value at anchor(\.\w+)?: /)
  }
  await refused('s1/doc/v1', student('u1'), set('comments', 'u1:c1', { text: 'x'.repeat(4001), at: 1 }), tooLong('comments/u1:c1', 'text', 4000))
  // A teacher writing under another author's key is held to the same shape.
  await refused('s1/doc/v1', teacher('t1'), set('comments', plain, { text: 'x', at: 1, resolved: true, by: 't1' }), unknownKey(`comments/${plain}`, 'by'))
})

test('exam events: details are a short note or a few primitive fields; other details and extra keys are refused', async () => {
  const exam = new ExamClient(await session(student('u1')), 's1', 'e1')
  await within(Promise.all([exam.exam.ready, exam.sheet.ready]), DEADLINE_MS, 'exam open')
  exam.event('tab_switch')
  exam.event('face_missing', { durationSec: 4 })
  exam.event('multiple_faces', { faces: 2, confidence: 0.9, camera: 'front', mirrored: false })
  exam.event('copy_paste', 'pasted into the answer box')
  const events = (await landed(exam.sheet)).events
  assert.equal(events.map((e: { detail?: unknown }) => e.detail), [undefined, { durationSec: 4 }, { faces: 2, confidence: 0.9, camera: 'front', mirrored: false }, 'pasted into the answer box'])

  const name = 's1/exam/e1/student/u1'
  const event = (detail: unknown) => ({ type: 'tab_switch', at: Date.now(), detail })
  await refused(name, student('u1'), push('events', { type: 'tab_switch', at: 1, screenshot: 'x'.repeat(500_000) }), unknownKey('events', 'screenshot'))
  await refused(name, student('u1'), push('events', event({ frame: { w: 640, h: 480 } })), /^forbidden-write: events \(invalid value at detail/)
  await refused(name, student('u1'), push('events', event([1, 2, 3])), /^forbidden-write: events \(invalid value at detail/)
  await refused(name, student('u1'), push('events', event('x'.repeat(201))), /^forbidden-write: events \(invalid value at detail/)
  await refused(name, student('u1'), push('events', event({ note: 'x'.repeat(201) })), /^forbidden-write: events \(invalid value at detail/)
  await refused(name, student('u1'), push('events', event({ ['k'.repeat(65)]: 1 })), /^forbidden-write: events \(invalid value at detail/)
  const many = Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`f${i}`, i]))
  await refused(name, student('u1'), push('events', event(many)), 'forbidden-write: events (invalid value at detail: at most 16 fields)')
})

test('board elements: extra keys, long texts and too many points are refused; a drawn stroke lands', async () => {
  const board = new BoardClient(await session(student('u1')), 's1/board/v1')
  await within(board.handle.ready, DEADLINE_MS, 'board open')
  const key = board.draw({ kind: 'stroke', points: [0, 0, 10, 12, 30, 40], color: 'hsl(120 65% 45%)' })
  assert.equal((await landed(board.handle)).elements[key].points, [0, 0, 10, 12, 30, 40])

  const element = { kind: 'rect', x: 1, y: 2, w: 3, h: 4, color: '#000', z: 1 }
  await refused('s1/board/v1', student('u1'), set('elements', 'u1:e1', { ...element, image: 'data:image/png;base64,' + 'A'.repeat(300_000) }), unknownKey('elements/u1:e1', 'image'))
  await refused('s1/board/v1', student('u1'), set('elements', 'u1:e1', { ...element, kind: 'text', text: 'x'.repeat(4001) }), tooLong('elements/u1:e1', 'text', 4000))
  await refused('s1/board/v1', student('u1'), set('elements', 'u1:e1', { ...element, points: new Array(20_001).fill(1) }), 'forbidden-write: elements/u1:e1 (invalid value at points: Too big: expected array to have <=20000 items)')
  await refused('s1/board/v1', teacher('t1'), set('elements', 't1:e1', { ...element, color: 'x'.repeat(33) }), tooLong('elements/t1:e1', 'color', 32))
})

test('classroom activity, group membership and emergency acknowledgements refuse extra keys', async () => {
  const seven: Claims = student('u1', { classes: ['7a'] })
  const room = new ClassClient(await session(seven), 's1', '7a')
  await within(room.handle.ready, DEADLINE_MS, 'class open')
  room.report('active', { page: '/lessons/4', handRaised: true })
  assert.equal({ ...(await landed(room.handle)).activity.u1, at: 0 }, { state: 'active', page: '/lessons/4', handRaised: true, at: 0 })
  await refused('s1/class/7a', seven, set('activity', 'u1', { state: 'idle', at: 1, mood: 'bored' }), unknownKey('activity/u1', 'mood'))
  await refused('s1/class/7a', seven, set('activity', 'u1', { state: 'idle', at: 1, page: 'x'.repeat(501) }), tooLong('activity/u1', 'page', 500))

  const group = new GroupClient(await session(student('u1')), 's1/group/g1')
  await within(group.handle.ready, DEADLINE_MS, 'group open')
  group.join()
  assert.ok((await landed(group.handle)).members.u1)
  await refused('s1/group/g1', student('u2'), set('members', 'u2', { at: 1, role: 'owner' }), unknownKey('members/u2', 'role'))

  const emergency = new EmergencyClient(await session(student('u1')), 's1/emergency/x1')
  await within(emergency.handle.ready, DEADLINE_MS, 'emergency open')
  emergency.acknowledge()
  assert.ok((await landed(emergency.handle)).acks.u1)
  await refused('s1/emergency/x1', student('u2'), set('acks', 'u2', { at: 1, location: 'x'.repeat(10_000) }), unknownKey('acks/u2', 'location'))
})

test('bus fixes and route stops, and proctors\' acknowledgements, refuse extra keys', async () => {
  const bus = new BusClient(await session(driver), 's1', 'b1')
  await within(bus.handle.ready, DEADLINE_MS, 'bus open')
  const fix = { lat: 52.5, lng: 13.4, speed: 30, heading: 90, accuracy: 5, at: Date.now() }
  bus.report(fix)
  assert.equal((await landed(bus.handle)).position.now, fix)
  await refused('s1/bus/b1', driver, set('position', 'now', { ...fix, passengers: ['u1', 'u2'] }), unknownKey('position/now', 'passengers'))
  const stop = { id: 'depot', name: 'Depot', lat: 52.5, lng: 13.4, radiusM: 60 }
  await refused('s1/bus/b1', admin(), set('route', 'stops', [stop, { ...stop, id: 'park', photo: 'x' }]), unknownKey('route/stops', 'photo', '1'))

  const monitor = new MonitorClient(await session(proctor), 's1', 'e1')
  await within(monitor.handle.ready, DEADLINE_MS, 'monitor open')
  monitor.ack('u1:tab_switch')
  assert.is((await landed(monitor.handle)).acks['u1:tab_switch'].by, 'pr1')
  await refused('s1/exam/e1/monitor', proctor, set('acks', 'u1:face_missing', { by: 'pr1', at: 1, note: 'seen' }), unknownKey('acks/u1:face_missing', 'note'))
})

test('dashboards stay open JSON, bounded as a whole', async () => {
  const writer = connect(server.url, 's1/dashboard/v1', await mintToken(service))
  await within(writer.synced, DEADLINE_MS, 'dashboard open')
  writer.doc.getMap('data').set('attendance', { present: 412, absent: 9, byClass: { '7a': 28 }, trend: [1, 2, 3] })
  await writer.acknowledged()
  assert.equal(((await serverJson(server, 's1/dashboard/v1')) as any).data.attendance.byClass, { '7a': 28 })
  await refused('s1/dashboard/v1', service, set('data', 'dump', { rows: 'x'.repeat(MAX_OPEN_JSON_CHARS) }), `forbidden-write: data/dump (invalid value: at most ${MAX_OPEN_JSON_CHARS} characters of JSON)`)
})

test.run()
