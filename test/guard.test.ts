// The write guard over real connections, surface by surface and role by role: one allowed
// write that a second client sees, and one forbidden write that is refused with the exact
// reason (read-only roles too: `forbidden-write: <path>`) while the second client, the journal and a
// restarted server all show the document unchanged.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import * as Y from 'yjs'
import { useServer } from './helpers/server.ts'
import { closeClients, connect, DEADLINE_MS, until, within, type Client } from './helpers/clients.ts'
import { admin, mintToken, student, teacher } from './helpers/tokens.ts'
import { journalLength, nextSyncStatus, serverJson } from './helpers/guard.ts'
import { serverWrite } from '../server/writes.ts'
import type { Claims } from '../server/identity.ts'

const proctor = (sub = 'pr1'): Claims => ({ sub, role: 'proctor', schools: ['s1'] })
const director = (sub = 'dir1'): Claims => ({ sub, role: 'director', schools: ['s1'] })
const parent = (sub = 'p1'): Claims => ({ sub, role: 'parent', schools: ['s1'], children: ['u1'], buses: ['b1'] })
const driver = (sub = 'dr1'): Claims => ({ sub, role: 'driver', schools: ['s1'], buses: ['b1'] })
const service = (sub = 'svc1'): Claims => ({ sub, role: 'service', schools: ['*'] })
/** The time clients write: within CLOCK_SKEW_S of the server's clock (an hour in this suite, which runs long on a loaded machine). */
const NOW = Date.now()

type Change = (doc: Y.Doc) => void

interface Case {
  doc: string
  as: Claims
  /** A write this role may make, and how the observer recognises it. */
  allowed?: { change: Change; seen: (doc: Y.Doc) => boolean }
  /** A write this role may not make, and the exact close reason ('read-only' when the connection is read-only). */
  forbidden: { change: Change; reason: string; absent?: (doc: Y.Doc) => boolean }
}

/** Roots the server's observers and timers keep changing on their own; compared through `absent` instead. */
// The exam observer derives a monitor's `students` from the student documents, on its own time.
const DERIVED: Record<string, string[]> = { 's1/class/7a': ['stats', 'activity'], 's1/system/status': ['now'], 's1/poll/p1': ['tallies', 'results'], 's1/exam/e1/monitor': ['students'] }

/** The document as canonical JSON (keys sorted: map order depends on the order changes arrived), without derived roots. */
function stable(name: string, json: unknown): string {
  const copy = { ...(json as Record<string, unknown>) }
  for (const root of DERIVED[name] ?? []) delete copy[root]
  const sorted = (value: unknown): unknown =>
    Array.isArray(value) ? value.map(sorted)
    : value && typeof value === 'object' ? Object.fromEntries(Object.keys(value).sort().map((k) => [k, sorted((value as Record<string, unknown>)[k])]))
    : value
  return JSON.stringify(sorted(copy))
}

const set = (root: string, key: string, value: unknown): Change => (d) => d.getMap(root).set(key, value)
const has = (root: string, key: string): ((d: Y.Doc) => boolean) => (d) => d.getMap(root).has(key)
const message = (id: string, author: string) => ({ id, author, text: `hello from ${author}`, at: Date.now() })
const typeInBody: Change = (d) => {
  const fragment = d.getXmlFragment('body')
  if (fragment.length === 0) fragment.push([new Y.XmlText()])
  ;(fragment.get(0) as Y.XmlText).insert(0, 'hi ')
}
const bodyText = (d: Y.Doc) => d.getXmlFragment('body').toString().includes('hi')

/** Server-side state each document starts from. */
const setups: Record<string, Change> = {
  's1/poll/p1': (d) => {
    d.getMap('meta').set('question', 'Best fruit?')
    d.getMap('meta').set('options', ['apple', 'pear'])
  },
  's1/exam/e1': (d) => d.getMap('meta').set('status', 'open'),
  's1/chat/c1': (d) => d.getArray('messages').push([message('m0', 't1')]),
  's1/group/g1': (d) => {
    const meta = d.getMap('meta')
    meta.set('name', 'Chess club')
    meta.set('owner', 't1')
    meta.set('isPublic', true)
    meta.set('maxMembers', 2)
    d.getMap('members').set('t1', { at: NOW })
  },
  's1/emergency/em2': (d) => {
    const broadcast = d.getMap('broadcast')
    broadcast.set('title', 'Drill')
    broadcast.set('message', 'Fire drill at 10')
    broadcast.set('level', 'info')
    broadcast.set('targetRoles', ['student', 'teacher'])
  },
}

const cases: Case[] = [
  // s/doc
  { doc: 's1/doc/d1', as: student('u1'), allowed: { change: typeInBody, seen: bodyText }, forbidden: { change: set('meta', 'title', 'x'), reason: 'forbidden-write: meta/title' } },
  { doc: 's1/doc/d1', as: teacher('t1'), allowed: { change: set('comments', 'u1:c1', { text: 'ok', at: NOW }), seen: has('comments', 'u1:c1') }, forbidden: { change: set('body2', 'x', 1), reason: 'forbidden-write: body2/x (doc/:id has body, comments, meta)' } },
  { doc: 's1/doc/d1', as: proctor(), allowed: { change: set('comments', 'pr1:c1', { text: 'ok', at: NOW }), seen: has('comments', 'pr1:c1') }, forbidden: { change: typeInBody, reason: 'forbidden-write: body' } },
  { doc: 's1/doc/d1', as: admin(), allowed: { change: set('meta', 'title', 'Essay'), seen: (d) => d.getMap('meta').get('title') === 'Essay' }, forbidden: { change: set('comments', 'u1:c2', { text: 'no', at: NOW }), reason: 'forbidden-write: comments/u1:c2' } },
  { doc: 's1/doc/d1', as: director(), allowed: { change: set('comments', 'dir1:c1', { text: 'ok', at: NOW }), seen: has('comments', 'dir1:c1') }, forbidden: { change: typeInBody, reason: 'forbidden-write: body' } },
  // s/board
  { doc: 's1/board/b1', as: student('u1'), allowed: { change: set('elements', 'u1:e1', { kind: 'rect', color: 'red', z: 1 }), seen: has('elements', 'u1:e1') }, forbidden: { change: set('elements', 't1:e1', { kind: 'rect', color: 'red', z: 1 }), reason: 'forbidden-write: elements/t1:e1' } },
  { doc: 's1/board/b1', as: teacher('t1'), allowed: { change: set('meta', 'title', 'Geometry'), seen: has('meta', 'title') }, forbidden: { change: (d) => d.getArray('elements').push([1]), reason: 'forbidden-write: elements (elements is declared as a map)' } },
  { doc: 's1/board/b1', as: proctor(), forbidden: { change: set('elements', 'pr1:e1', { kind: 'rect', color: 'red', z: 1 }), reason: 'read-only' } },
  { doc: 's1/board/b1', as: admin(), forbidden: { change: set('meta', 'locked', true), reason: 'read-only' } },
  // s/poll, its ballots and key
  { doc: 's1/poll/p1', as: teacher('t1'), allowed: { change: set('meta', 'anonymous', false), seen: has('meta', 'anonymous') }, forbidden: { change: set('tallies', '0', 99), reason: 'forbidden-write: tallies/0', absent: (d) => d.getMap('tallies').get('0') !== 99 } },
  { doc: 's1/poll/p1', as: student('u1'), forbidden: { change: set('tallies', '0', 99), reason: 'read-only', absent: (d) => d.getMap('tallies').get('0') !== 99 } },
  { doc: 's1/poll/p1/ballot/u1', as: student('u1'), allowed: { change: set('ballot', 'choice', 1), seen: has('ballot', 'choice') }, forbidden: { change: set('ballot', 'choice', 7), reason: 'forbidden-write: ballot/choice (choice must be an option index below 2)' } },
  { doc: 's1/poll/p1/ballot/u1', as: teacher('t1'), forbidden: { change: set('ballot', 'choice', 0), reason: 'read-only' } },
  { doc: 's1/poll/p1/key', as: teacher('t1'), allowed: { change: set('key', 'correct', 1), seen: has('key', 'correct') }, forbidden: { change: set('key', 'correct', 'pear'), reason: 'forbidden-write: key/correct (invalid value: Invalid input: expected number, received string)' } },
  // s/exam, its key, student documents and monitor
  { doc: 's1/exam/e1', as: teacher('t1'), allowed: { change: set('meta', 'title', 'Algebra'), seen: has('meta', 'title') }, forbidden: { change: set('key', '0', 1), reason: 'forbidden-write: key/0 (exam/:exam has meta, questions)' } },
  { doc: 's1/exam/e1', as: student('u1'), forbidden: { change: set('meta', 'status', 'closed'), reason: 'read-only' } },
  { doc: 's1/exam/e1/key', as: teacher('t1'), allowed: { change: set('key', '0', 2), seen: has('key', '0') }, forbidden: { change: (d) => d.getArray('key').push([2]), reason: 'forbidden-write: key (key is declared as a map)' } },
  { doc: 's1/exam/e1/student/u1', as: student('u1'), allowed: { change: set('answers', '0', 2), seen: has('answers', '0') }, forbidden: { change: set('status', 'score', 100), reason: 'forbidden-write: status/score' } },
  { doc: 's1/exam/e1/student/u1', as: student('u1'), forbidden: { change: set('status', 'submittedAt', 1), reason: 'forbidden-write: status/submittedAt' } },
  // Teachers may reopen a sheet and proctors append evidence (test/exam-evidence.test.ts); neither answers for the student.
  { doc: 's1/exam/e1/student/u1', as: teacher('t1'), forbidden: { change: set('answers', '0', 3), reason: 'forbidden-write: answers/0' } },
  { doc: 's1/exam/e1/student/u1', as: proctor(), forbidden: { change: set('status', 'state', 'submitted'), reason: 'forbidden-write: status/state' } },
  { doc: 's1/exam/e1/monitor', as: proctor(), allowed: { change: set('acks', 'al1', { by: 'pr1', at: NOW }), seen: has('acks', 'al1') }, forbidden: { change: set('alerts', 'al9', { user: 'u1', type: 'tab_switch', severity: 'low', at: NOW, count: 1 }), reason: 'forbidden-write: alerts/al9' } },
  { doc: 's1/exam/e1/monitor', as: teacher('t1'), allowed: { change: set('acks', 'al2', { by: 't1', at: NOW }), seen: has('acks', 'al2') }, forbidden: { change: set('acks', 'al3', { by: 'pr1', at: NOW }), reason: 'forbidden-write: acks/al3 (ack.by must be the acknowledging user)' } },
  // s/chat, s/dm, s/group
  { doc: 's1/chat/c1', as: student('u1'), allowed: { change: (d) => d.getArray('messages').push([message('m1', 'u1')]), seen: (d) => d.getArray('messages').length === 2 }, forbidden: { change: (d) => d.getArray('messages').push([message('m2', 't1')]), reason: 'forbidden-write: messages (author must be the sender)' } },
  { doc: 's1/chat/c1', as: student('u2'), allowed: { change: set('reads', 'u2', 'm1'), seen: has('reads', 'u2') }, forbidden: { change: (d) => d.getArray('messages').delete(0, 1), reason: 'forbidden-write: messages (not yours to delete)' } },
  { doc: 's1/chat/c1', as: teacher('t1'), allowed: { change: (d) => d.getArray('messages').delete(1, 1), seen: (d) => d.getArray('messages').length === 1 }, forbidden: { change: set('reads', 'u1', 'm0'), reason: 'forbidden-write: reads/u1' } },
  { doc: 's1/chat/c1', as: admin(), allowed: { change: set('meta', 'title', 'Homework help'), seen: has('meta', 'title') }, forbidden: { change: set('meta', 'title', 'x'.repeat(300)), reason: 'forbidden-write: meta/title (invalid value: Too big: expected string to have <=200 characters)' } },
  { doc: 's1/dm/t1~u1', as: student('u1'), allowed: { change: (d) => d.getArray('messages').push([message('d1', 'u1')]), seen: (d) => d.getArray('messages').length === 1 }, forbidden: { change: set('reads', 't1', 'd1'), reason: 'forbidden-write: reads/t1' } },
  { doc: 's1/group/g1', as: student('u1'), allowed: { change: set('members', 'u1', { at: NOW }), seen: has('members', 'u1') }, forbidden: { change: set('meta', 'name', 'Mine now'), reason: 'forbidden-write: meta/name' } },
  { doc: 's1/group/g1', as: student('u2'), forbidden: { change: set('members', 'u2', { at: NOW }), reason: 'frozen: group is full (2 members)' } },
  // s/inbox
  { doc: 's1/inbox/u1', as: student('u1'), allowed: { change: set('read', 'n1', 5), seen: has('read', 'n1') }, forbidden: { change: set('items', 'n2', { type: 'x', title: 'Free grades', body: '', priority: 'low', at: NOW }), reason: 'forbidden-write: items/n2' } },
  // s/emergency
  {
    doc: 's1/emergency/em1',
    as: admin(),
    allowed: { change: (d) => d.getMap('broadcast').set('title', 'Lockdown'), seen: has('broadcast', 'title') },
    forbidden: { change: set('status', 'acked', 0), reason: 'forbidden-write: status/acked' },
  },
  { doc: 's1/emergency/em1', as: director(), forbidden: { change: set('broadcast', 'title', 'Changed'), reason: 'frozen: broadcast already sent' } },
  { doc: 's1/emergency/em2', as: student('u1'), allowed: { change: set('acks', 'u1', { at: NOW }), seen: has('acks', 'u1') }, forbidden: { change: set('acks', 'u2', { at: NOW }), reason: 'forbidden-write: acks/u2' } },
  // s/bus
  { doc: 's1/bus/b1', as: driver(), allowed: { change: set('position', 'now', { lat: 1, lng: 2, speed: 30, heading: 90, at: NOW }), seen: has('position', 'now') }, forbidden: { change: set('route', 'speedLimitKmh', 200), reason: 'forbidden-write: route/speedLimitKmh' } },
  { doc: 's1/bus/b1', as: admin(), allowed: { change: set('route', 'speedLimitKmh', 50), seen: has('route', 'speedLimitKmh') }, forbidden: { change: set('position', 'now', { lat: 0, lng: 0, speed: 0, heading: 0, at: NOW }), reason: 'forbidden-write: position/now' } },
  { doc: 's1/bus/b1', as: parent(), forbidden: { change: set('position', 'now', { lat: 0, lng: 0, speed: 0, heading: 0, at: NOW }), reason: 'read-only' } },
  // s/class
  { doc: 's1/class/7a', as: student('u1', { classes: ['7a'] }), allowed: { change: set('activity', 'u1', { state: 'active', at: NOW }), seen: has('activity', 'u1') }, forbidden: { change: set('activity', 'u2', { state: 'away', at: NOW }), reason: 'forbidden-write: activity/u2', absent: (d) => !d.getMap('activity').has('u2') } },
  { doc: 's1/class/7a', as: teacher('t1'), allowed: { change: set('actions', 'lock', true), seen: has('actions', 'lock') }, forbidden: { change: set('stats', 'active', 30), reason: 'forbidden-write: stats/active', absent: (d) => d.getMap('stats').get('active') !== 30 } },
  // s/dashboard, s/leaderboard, s/system/status
  { doc: 's1/dashboard/main', as: service(), allowed: { change: set('data', 'attendance', 0.97), seen: has('data', 'attendance') }, forbidden: { change: set('other', 'x', 1), reason: 'forbidden-write: other/x (dashboard/:name has data)' } },
  { doc: 's1/dashboard/main', as: teacher('t1'), forbidden: { change: set('data', 'grades', 'A'), reason: 'read-only' } },
  { doc: 's1/leaderboard/math', as: student('u1'), forbidden: { change: set('entries', 'u1', { name: 'me', score: 1e9, rank: 1 }), reason: 'read-only' } },
  { doc: 's1/system/status', as: admin(), forbidden: { change: set('now', 'connections', -1), reason: 'read-only', absent: (d) => d.getMap('now').get('connections') !== -1 } },
]

const server = useServer({ CLOCK_SKEW_S: '3600' })
const observers = new Map<string, Client>()

test.before(async () => {
  for (const [name, change] of Object.entries(setups)) await serverWrite(server.app.hocuspocus, name, change)
})

/** Opens a document and waits until the server acknowledged the client's own first sync step 2. */
async function open(name: string, claims: Claims): Promise<Client> {
  const client = connect(server.url, name, await mintToken(claims))
  const settled = nextSyncStatus(client)
  await within(Promise.race([client.synced, client.refused.then((r) => Promise.reject(new Error(`${claims.sub} refused: ${r}`)))]), DEADLINE_MS, `${claims.sub} opening ${name}`)
  await within(settled, DEADLINE_MS, 'the first sync acknowledgement')
  return client
}

async function observer(name: string): Promise<Client> {
  let client = observers.get(name)
  if (!client) observers.set(name, (client = await open(name, admin('observer'))))
  return client
}

for (const c of cases) {
  test(`${c.doc} as ${c.as.role} ${c.as.sub}`, async () => {
    const watcher = await observer(c.doc)
    const writers: Client[] = []
    // The allowed writer stays connected, so observers that react to leaving (class activity) stay quiet.
    if (c.allowed) {
      const writer = await open(c.doc, c.as)
      writers.push(writer)
      const applied = nextSyncStatus(writer)
      writer.doc.transact(() => c.allowed!.change(writer.doc))
      assert.is(await within(applied, DEADLINE_MS, 'acknowledgement'), true, 'the allowed write was applied')
      await until(() => c.allowed!.seen(watcher.doc), { what: 'the observer to see the allowed write' })
    }
    const before = stable(c.doc, await serverJson(server, c.doc))
    const seen = stable(c.doc, watcher.doc.toJSON())
    const entries = await journalLength(server, c.doc)
    const writer = await open(c.doc, c.as)
    writers.push(writer)
    if (c.forbidden.reason === 'read-only') {
      assert.is(writer.provider.authorizedScope, 'readonly')
      writer.doc.transact(() => c.forbidden.change(writer.doc))
      assert.match(await within(writer.closed, DEADLINE_MS, 'the refusal'), /^forbidden-write: \w+\/\S+/)
    } else {
      writer.doc.transact(() => c.forbidden.change(writer.doc))
      assert.is(await within(writer.closed, DEADLINE_MS, 'the refusal'), c.forbidden.reason)
    }
    assert.is(stable(c.doc, await serverJson(server, c.doc)), before, 'server copy unchanged')
    assert.is(stable(c.doc, watcher.doc.toJSON()), seen, 'observer unchanged')
    if (c.forbidden.absent) {
      assert.ok(c.forbidden.absent(await server.app.peek(c.doc)), 'the forbidden value is not on the server')
      assert.ok(c.forbidden.absent(watcher.doc), 'the forbidden value did not reach the observer')
    }
    assert.is(await journalLength(server, c.doc), entries, 'nothing journaled')
    // The observer stays: a document that unloads between cases could be reopened mid-unload.
    for (const w of writers) w.destroy()
  })
}

test('frozen: a locked board, a closed poll and a closed exam refuse late writes', async () => {
  await serverWrite(server.app.hocuspocus, 's1/board/b1', set('meta', 'locked', true))
  const boardWriter = await open('s1/board/b1', student('u1'))
  boardWriter.doc.getMap('elements').set('u1:late', { kind: 'rect', color: 'red', z: 2 })
  assert.is(await within(boardWriter.closed, DEADLINE_MS, 'refusal'), 'frozen: board locked')

  await serverWrite(server.app.hocuspocus, 's1/poll/p1', set('meta', 'closesAt', Date.now() - 1000))
  const voter = await open('s1/poll/p1/ballot/u1', student('u1'))
  voter.doc.getMap('ballot').set('choice', 0)
  assert.is(await within(voter.closed, DEADLINE_MS, 'refusal'), 'frozen: poll closed')

  await serverWrite(server.app.hocuspocus, 's1/exam/e1', set('meta', 'status', 'closed'))
  const examinee = await open('s1/exam/e1/student/u1', student('u1'))
  examinee.doc.getMap('answers').set('1', 3)
  // The exam observer may already have submitted the open attempt; either way it is frozen.
  assert.match(await within(examinee.closed, DEADLINE_MS, 'refusal'), /^frozen: exam (closed|submitted)$/)
})

test('offline edits to a document that froze meanwhile are refused with frozen:', async () => {
  const examinee = await open('s1/exam/e1/student/u2', student('u2'))
  examinee.destroy()
  // Made while offline, sent as the sync step 2 of the next connection.
  const offline = new Y.Doc()
  Y.applyUpdate(offline, Y.encodeStateAsUpdate(examinee.doc))
  offline.getMap('answers').set('0', 1)
  const again = connect(server.url, 's1/exam/e1/student/u2', await mintToken(student('u2')), { doc: offline })
  assert.is(await within(again.closed, DEADLINE_MS, 'refusal'), 'frozen: exam closed')
  assert.equal((await serverJson(server, 's1/exam/e1/student/u2') as { answers: unknown }).answers, {})
})

test('a restarted server shows every document as it was before the restart', async () => {
  const expected = new Map<string, string>()
  for (const { doc } of cases) expected.set(doc, stable(doc, await serverJson(server, doc)))
  closeClients()
  observers.clear()
  await server.restart()
  for (const [name, json] of expected) assert.is(stable(name, await serverJson(server, name)), json, name)
})

test.run()
