// A hostile client sends thousands of random, well-formed updates against every surface:
// map sets and deletes anywhere (its own keys, other users' keys, unknown roots), list pushes
// and deletes, nested types, text, and the wrong kind of root. Whatever the server accepts,
// everything this user may not write stays exactly as it was, and the server keeps serving.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import * as Y from 'yjs'
import { resolve } from '../docs-model/registry.ts'
import { canWrite, writeContext } from '../docs-model/rules.ts'
import type { Identity, Surface } from '../docs-model/types.ts'
import { normalise, type Claims } from '../server/identity.ts'
import { serverWrite } from '../server/writes.ts'
import { nextSyncStatus, sendRawUpdate } from './helpers/guard.ts'
import { useServer } from './helpers/server.ts'
import { closeClients, connect, DEADLINE_MS, until, within, type Client } from './helpers/clients.ts'
import { claims, mintToken } from './helpers/tokens.ts'
import { Rng, testSeed } from './helpers/random.ts'

const UPDATES_PER_SURFACE = Number(process.env.FUZZ_UPDATES ?? 100)

interface Target {
  doc: string
  hostile: Claims
  setup: (doc: Y.Doc) => void
  /** A write this user may make, so that accepted updates mix with the refused ones. */
  good?: (doc: Y.Doc, n: number) => void
  /** Roots the server's observers and timers rewrite on their own; the table tests cover client writes there. */
  derived?: string[]
}

/** Client times must be near the server's clock (CLOCK_SKEW_S): good writes use now, random values either. */
const message = (id: string, author: string) => ({ id, author, text: 'hello', at: Date.now() })
const anyTime = () => pick([1, Date.now()])
const put = (root: string, key: string, value: (n: number) => unknown) => (d: Y.Doc, n: number) => d.getMap(root).set(key, value(n))
const push = (root: string, value: (n: number) => unknown) => (d: Y.Doc, n: number) => d.getArray(root).push([value(n)])
const targets: Target[] = [
  { doc: 's1/doc/f1', hostile: claims.student('u1'), setup: (d) => { d.getMap('meta').set('title', 'Essay'); d.getMap('comments').set('t1:c1', { text: 'good', at: 1 }) }, good: put('comments', 'u1:c', (n) => ({ text: `c${n}`, at: Date.now() - n })) },
  { doc: 's1/board/f1', hostile: claims.student('u1'), setup: (d) => { d.getMap('meta').set('title', 'Board'); d.getMap('elements').set('t1:e1', { kind: 'rect', color: 'red', z: 1 }) }, good: put('elements', 'u1:e', (n) => ({ kind: 'rect', color: 'blue', z: n })) },
  { doc: 's1/poll/f1', hostile: claims.teacher('t1'), setup: (d) => { d.getMap('meta').set('options', ['a', 'b']); d.getMap('tallies').set('0', 4); d.getMap('results').set('correct', 1) }, good: put('meta', 'question', (n) => `Q${n}`) },
  { doc: 's1/poll/f2/ballot/u1', hostile: claims.student('u1'), setup: (d) => d.getMap('ballot').set('choice', 0), good: put('ballot', 'choice', (n) => n % 2) },
  { doc: 's1/poll/f1/key', hostile: claims.teacher('t1'), setup: (d) => d.getMap('key').set('correct', 1), good: put('key', 'correct', (n) => n % 2) },
  { doc: 's1/exam/f1', hostile: claims.teacher('t1'), setup: (d) => d.getMap('meta').set('status', 'open'), good: put('meta', 'title', (n) => `Exam ${n}`) },
  { doc: 's1/exam/f1/key', hostile: claims.teacher('t1'), setup: (d) => d.getMap('key').set('0', 1), good: put('key', '1', (n) => n % 4) },
  { doc: 's1/exam/f2/student/u1', hostile: claims.student('u1'), setup: (d) => { d.getMap('status').set('state', 'in_progress'); d.getArray('events').push([{ type: 'tab_switch', at: 1 }]) }, good: put('answers', '0', (n) => n % 4) },
  { doc: 's1/exam/f1/monitor', hostile: claims.proctor('pr1'), setup: (d) => { d.getMap('students').set('u1', { answered: 1 }); d.getMap('alerts').set('a1', { user: 'u1', type: 'tab_switch', severity: 'low', at: 1, count: 1 }) }, good: put('acks', 'a1', (n) => ({ by: 'pr1', at: Date.now() - n })), derived: ['students', 'alerts'] },
  { doc: 's1/chat/f1', hostile: claims.student('u1'), setup: (d) => { d.getArray('messages').push([message('m1', 't1'), message('m2', 'u2')]); d.getMap('meta').set('title', 'Chat') }, good: push('messages', (n) => message(`x${n}`, 'u1')) },
  { doc: 's1/dm/t1~u1', hostile: claims.student('u1'), setup: (d) => d.getArray('messages').push([message('m1', 't1')]), good: put('reads', 'u1', (n) => `m${n}`) },
  { doc: 's1/group/f1', hostile: claims.student('u1'), setup: (d) => { d.getMap('meta').set('owner', 't1'); d.getMap('meta').set('isPublic', true); d.getMap('members').set('t1', { at: 1 }); d.getArray('messages').push([message('m1', 't1')]) }, good: put('members', 'u1', (n) => ({ at: Date.now() - n })) },
  { doc: 's1/inbox/u1', hostile: claims.student('u1'), setup: (d) => d.getMap('items').set('n1', { type: 'x', title: 'Hi', body: '', priority: 'low', at: 1 }), good: put('read', 'n1', (n) => n) },
  { doc: 's1/emergency/f1', hostile: claims.student('u1'), setup: (d) => { d.getMap('broadcast').set('title', 'Drill'); d.getMap('broadcast').set('targetRoles', ['student']); d.getMap('status').set('acked', 0) }, good: put('acks', 'u1', (n) => ({ at: Date.now() - n })), derived: ['status'] },
  { doc: 's1/bus/b1', hostile: claims.driver('d1', { buses: ['b1'] }), setup: (d) => { d.getMap('route').set('speedLimitKmh', 50); d.getMap('alerts').set('x', { type: 'stale', at: 1, detail: '' }) }, good: put('position', 'now', (n) => ({ lat: 1, lng: 2, speed: 10, heading: n % 360, at: Date.now() })), derived: ['alerts'] },
  { doc: 's1/class/7a', hostile: claims.student('u1', { classes: ['7a'] }), setup: (d) => { d.getMap('actions').set('lock', false); d.getMap('activity').set('u2', { state: 'away', at: 1 }) }, good: put('activity', 'u1', (n) => ({ state: 'active', at: Date.now() - n })), derived: ['stats'] },
  { doc: 's1/dashboard/f1', hostile: claims.admin('a1'), setup: (d) => d.getMap('data').set('attendance', 0.9), good: put('data', 'grades', (n) => n) },
  { doc: 's1/leaderboard/f1', hostile: claims.student('u1'), setup: (d) => d.getMap('entries').set('u2', { name: 'U2', score: 5, rank: 1 }), derived: ['sources'] },
  { doc: 's1/system/status', hostile: claims.admin('a1'), setup: () => {}, derived: ['now'] },
]

/** Documents the targets' rules consult, kept apart from the ones the hostile teacher scrambles. */
const related: Record<string, (doc: Y.Doc) => void> = {
  's1/poll/f2': (d) => d.getMap('meta').set('options', ['a', 'b']),
  's1/exam/f2': (d) => d.getMap('meta').set('status', 'open'),
}

/** Deterministic pseudo-random numbers (seed from FUZZ_SEED to replay a failure). */
const rng = new Rng(testSeed('FUZZ_SEED', '20261122'))
const random = () => rng.next()
const pick = <T>(list: readonly T[]): T => rng.pick(list)

function randomValue(sub: string, depth = 0): unknown {
  switch (Math.floor(random() * (depth > 1 ? 5 : 8))) {
    case 0: return Math.floor(random() * 10)
    case 1: return pick(['submitted', 'open', 'closed', 'x'.repeat(Math.floor(random() * 300)), 'red'])
    case 2: return random() < 0.5
    case 3: return null
    case 4: return random() * 1e6
    case 5: return { id: `r${Math.floor(random() * 1e6)}`, author: pick([sub, 't1', 'u2']), text: 'spam', at: anyTime(), by: pick([sub, 't1']), kind: 'rect', color: 'red', z: 1, state: 'active', choice: 1 }
    case 6: return Array.from({ length: Math.floor(random() * 4) }, () => randomValue(sub, depth + 1))
    default: return { nested: randomValue(sub, depth + 1), type: 'tab_switch', at: anyTime(), lat: 1, lng: 1, speed: 1, heading: 1 }
  }
}

/** One random transaction on a copy of what the hostile client knows; returns the update it makes. */
function randomUpdate(known: Y.Doc, surface: Surface, sub: string, good: Target['good']): Uint8Array {
  const doc = new Y.Doc()
  Y.applyUpdate(doc, Y.encodeStateAsUpdate(known))
  const before = Y.encodeStateVector(doc)
  if (good && random() < 0.3) {
    good(doc, Math.floor(random() * 1000))
    return Y.encodeStateAsUpdate(doc, before)
  }
  const roots = [...Object.keys(surface.layout), 'junk']
  const ops = 1 + Math.floor(random() * 3)
  for (let i = 0; i < ops; i++) {
    const name = pick(roots)
    const kind = surface.layout[name]?.kind ?? pick(['map', 'array'])
    const wrongKind = random() < 0.1
    try {
      if ((kind === 'map') !== wrongKind) {
        const map = (wrongKind ? fresh(doc, name, 'map') : doc.getMap(name)) as Y.Map<unknown>
        const keys = [...map.keys()]
        const r = random()
        if (r < 0.25 && keys.length > 0) map.delete(pick(keys))
        else if (r < 0.35) {
          const inner = new Y.Map<unknown>()
          map.set(pick([sub, `${sub}:n`, 't1', 'now']), inner)
          inner.set('x', randomValue(sub))
        } else map.set(pick([sub, `${sub}:k${Math.floor(random() * 5)}`, 't1', 'u2', 't1:e1', 'choice', 'state', 'score', 'title', 'now', 'lock', '0', ...keys]), randomValue(sub))
      } else if (kind === 'array' || wrongKind) {
        const array = (wrongKind ? fresh(doc, name, 'array') : doc.getArray(name)) as Y.Array<unknown>
        if (random() < 0.3 && array.length > 0) array.delete(Math.floor(random() * array.length), 1)
        else array.insert(Math.floor(random() * (array.length + 1)), [randomValue(sub)])
      } else {
        const fragment = doc.getXmlFragment(name)
        if (fragment.length === 0) fragment.push([new Y.XmlText()])
        const text = fragment.get(0) as Y.XmlText
        if (random() < 0.3 && text.length > 0) text.delete(0, 1)
        else text.insert(Math.floor(random() * (text.length + 1)), 'abc')
      }
    } catch {
      // A root already typed differently in this copy: skip the operation.
    }
  }
  return Y.encodeStateAsUpdate(doc, before)
}

/** A root of the wrong kind, written from a separate document so it reaches the update. */
function fresh(doc: Y.Doc, name: string, kind: 'map' | 'array'): Y.AbstractType<any> {
  const other = new Y.Doc()
  other.on('update', (update: Uint8Array) => Y.applyUpdate(doc, update))
  return kind === 'map' ? other.getMap(name) : other.getArray(name)
}

/** Everything `user` may not write, as JSON: map entries it may not insert, list elements it may not delete. */
function protectedView(target: Target, surface: Surface, doc: Y.Doc, user: Identity, initial: Y.Doc): Record<string, unknown> {
  const { ref } = resolve(target.doc)
  const ctx = writeContext(user, ref, initial)
  const view: Record<string, unknown> = {}
  for (const [root, decl] of Object.entries(surface.layout)) {
    if (target.derived?.includes(root)) continue
    if (decl.kind === 'map') {
      const map = doc.getMap(root)
      for (const key of new Set([...map.keys(), ...initial.getMap(root).keys()])) {
        if (!canWrite(surface, [root, key], ctx)) view[`${root}/${key}`] = JSON.stringify(map.get(key) ?? null)
      }
    } else if (decl.kind === 'array') {
      const mayDeleteAny = surface.writes.some((rule) => rule.path === root && (rule.ops ?? ['delete']).includes('delete') && !rule.owner && rule.by(ctx))
      if (mayDeleteAny) continue
      view[root] = doc.getArray(root).toArray().filter((v) => (v as { author?: string } | null)?.author !== user.sub).map((v) => JSON.stringify(v))
    } else if (!canWrite(surface, [root], ctx)) view[root] = doc.getXmlFragment(root).toString()
  }
  return view
}

// Hocuspocus logs every refused message with a stack trace; thousands of them would bury real errors.
const logError = console.error
console.error = (...args: unknown[]) => {
  if (typeof args[0] === 'string' && args[0].startsWith('closing connection')) return
  logError(...args)
}

// Let the refused clients' disconnects settle before the fixture stops the server, so no document
// is mid-load at shutdown (after hooks run in the order they are added).
test.after(async () => {
  closeClients()
  const hocuspocus = server.app.hocuspocus
  await until(() => hocuspocus.getConnectionsCount() === 0 && hocuspocus.loadingDocuments.size === 0, { what: 'connections to close' })
})
const server = useServer({ MAX_MESSAGES_PER_SEC: '100000', MAX_OPENS_PER_SEC: '100000' })
test.before(async () => {
  for (const [name, setup] of Object.entries(related)) await serverWrite(server.app.hocuspocus, name, setup)
  for (const t of targets) await serverWrite(server.app.hocuspocus, t.doc, t.setup)
})
test.after(() => {
  // Seen under this barrage: a class document that stays loaded (never destroyed) after rapid
  // student disconnects, whose awareness timer keeps the process alive. Fail clearly, not by hanging.
  setTimeout(() => {
    console.error('a server document stayed loaded after stop (a leaked Hocuspocus document; see the guard-fuzz notes in docs/guard.md)')
    process.exit(1)
  }, 5000).unref()
})

for (const target of targets) {
  test(`random updates against ${target.doc} as ${target.hostile.role}`, async () => {
    const { surface } = resolve(target.doc)
    const user = normalise(target.hostile)
    const token = await mintToken(target.hostile)
    const initial = await server.app.peek(target.doc)
    const initialCopy = new Y.Doc()
    Y.applyUpdate(initialCopy, Y.encodeStateAsUpdate(initial))
    const expected = protectedView(target, surface, initialCopy, user, initialCopy)
    const known = new Y.Doc()
    // Someone keeps watching, so the document stays loaded between the hostile client's reconnects.
    const watcher = connect(server.url, target.doc, await mintToken(claims.admin('watch')))
    await within(watcher.synced, DEADLINE_MS, 'watcher sync')
    let client: Client | undefined
    let accepted = 0
    let refused = 0
    try {
      for (let i = 0; i < UPDATES_PER_SURFACE; i++) {
        if (!client) {
          client = connect(server.url, target.doc, token)
          const settled = nextSyncStatus(client)
          await within(client.synced, DEADLINE_MS, 'sync')
          await within(settled, DEADLINE_MS, 'first acknowledgement')
          Y.applyUpdate(known, Y.encodeStateAsUpdate(client.doc))
        }
        const update = randomUpdate(known, surface, user.sub, target.good)
        const outcome = Promise.race([nextSyncStatus(client), client.closed.then(() => 'closed' as const)])
        sendRawUpdate(client, update)
        const result = await within(outcome, DEADLINE_MS, `outcome of update ${i}`)
        if (result === true) {
          accepted++
          Y.applyUpdate(known, update)
        } else {
          refused++
          client.destroy()
          client = undefined
        }
      }
    } finally {
      client?.destroy()
      watcher.destroy()
    }
    const now = await server.app.peek(target.doc)
    assert.equal(protectedView(target, surface, now, user, initialCopy), expected, 'protected paths unchanged')
    assert.ok(refused > 0, 'some updates were refused')
    if (target.good) assert.ok(accepted > 0, 'some updates were accepted')
  })
}

test('the server still serves after the barrage', async () => {
  const client = connect(server.url, 's1/doc/f1', await mintToken(claims.teacher('t1')))
  await within(client.synced, DEADLINE_MS, 'sync')
  assert.is(client.doc.getMap('meta').get('title'), 'Essay')
})

test.run()
