// Opening rules over real connections: tokens, names, schools, read rules, read-only connections,
// and what refused openings may cost: read decisions that need a document's content read it from
// storage at most once per document, and attempts over the opening rate read nothing.
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import * as Y from 'yjs'
import { startServer, tempDir, useServer } from './helpers/server.ts'
import { closeClients, connect, DEADLINE_MS, until, within } from './helpers/clients.ts'
import { closeYClients, connectY } from './helpers/ywebsocket.ts'
import { claims, mintToken, student, teacher, unsignedToken } from './helpers/tokens.ts'
import type { Claims } from '../server/identity.ts'
import { SqliteStore } from '../server/store/sqlite.ts'
import type { Store } from '../server/store/types.ts'

/** A real SQLite store that counts, per document, the replays read from it (one `entriesAfter` each). */
function countingStore(dataDir: string): { store: Store; target: SqliteStore; reads: (doc: string) => number } {
  const target = new SqliteStore(join(dataDir, 'homeroom.db'))
  const counts = new Map<string, number>()
  const store = new Proxy(target, {
    get(object, key, receiver) {
      const value = Reflect.get(object, key, receiver)
      if (key !== 'entriesAfter' || typeof value !== 'function') return typeof value === 'function' ? value.bind(object) : value
      return (doc: string, ...rest: unknown[]) => {
        counts.set(doc, (counts.get(doc) ?? 0) + 1)
        return value.call(object, doc, ...rest)
      }
    },
  })
  return { store, target, reads: (doc) => counts.get(doc) ?? 0 }
}

/** Stores a chat whose members are `members`, with about `bytes` of messages, as many journal entries. */
async function storeChat(store: Store, name: string, members: string[], bytes: number): Promise<number> {
  const doc = new Y.Doc()
  const updates: Uint8Array[] = []
  doc.on('update', (update: Uint8Array) => updates.push(update))
  doc.getMap('meta').set('title', 'staff room')
  doc.getMap('meta').set('members', members)
  const text = 'x'.repeat(1000)
  const count = Math.ceil(bytes / text.length)
  for (let i = 0; i < count; i++) doc.getArray('messages').push([{ id: `m${i}`, author: members[i % members.length], text, at: Date.now() }])
  for (const update of updates) await store.append(name, { at: Date.now(), user: 'server', origin: 'import', update })
  doc.destroy()
  return count
}

/**
 * Retention's first run (a minute after start) replays every chat; on a slow machine it would
 * count among the reads. Claiming its day (and the next) makes that run do nothing.
 */
async function skipRetention(store: Store): Promise<void> {
  for (const day of [0, 1]) await store.claim(`retention:${new Date(Date.now() + day * 86_400_000).toISOString().slice(0, 10)}`)
}

let counting: ReturnType<typeof countingStore>
const server = useServer({}, async (dataDir) => {
  counting = countingStore(dataDir)
  await skipRetention(counting.target)
  return { store: counting.store }
})
test.after.each(() => {
  closeClients()
  closeYClients()
})

async function refusalFor(name: string, token: string): Promise<string> {
  const client = connect(server.url, name, token)
  try {
    return await within(client.refused, DEADLINE_MS, `refusal of ${name}`)
  } finally {
    client.destroy()
  }
}

async function opens(name: string, claims: Claims): Promise<boolean> {
  const client = connect(server.url, name, await mintToken(claims))
  try {
    const outcome = await within(Promise.race([client.synced.then(() => true), client.refused.then(() => false)]), DEADLINE_MS, `opening ${name}`)
    return outcome
  } finally {
    client.destroy()
  }
}

test('bad tokens are refused with unauthenticated', async () => {
  assert.match(await refusalFor('s1/doc/d1', unsignedToken(teacher())), /^unauthenticated/)
  assert.match(await refusalFor('s1/doc/d1', await mintToken(teacher(), { ttl: 1 })), /^unauthenticated: token expired/)
  assert.match(await refusalFor('s1/doc/d1', 'garbage'), /^unauthenticated/)
})

test('malformed names, unknown surfaces and other schools are refused', async () => {
  const token = await mintToken(teacher())
  assert.match(await refusalFor('s1/doc', token), /^bad-name/)
  assert.match(await refusalFor('s1/doc/has space', token), /^bad-name/)
  assert.match(await refusalFor('s1/spaceship/1', token), /^unknown-surface/)
  assert.match(await refusalFor('s1/poll/p1/vote/u1', token), /^unknown-surface/)
  assert.match(await refusalFor('s2/doc/d1', token), /^forbidden/)
})

test('read rules decide who may open each surface', async () => {
  assert.ok(await opens('s1/doc/d1', student()))
  assert.not.ok(await opens('s1/doc/d1', claims.parent('p1')))
  assert.ok(await opens('s1/poll/p1/ballot/u1', student('u1')))
  assert.not.ok(await opens('s1/poll/p1/ballot/u2', student('u1')))
  assert.not.ok(await opens('s1/exam/e1/key', student()))
  assert.ok(await opens('s1/exam/e1/key', teacher()))
  assert.ok(await opens('s1/exam/e1/monitor', claims.proctor('pr1')))
  assert.not.ok(await opens('s1/inbox/u2', student('u1')))
  assert.ok(await opens('s1/inbox/u2', claims.admin('a1')))
  assert.ok(await opens('s1/dm/u1~t1', student('u1')))
  assert.not.ok(await opens('s1/dm/u2~t1', student('u1')))
  assert.ok(await opens('s1/bus/b1', claims.driver('d1', { buses: ['b1'] })))
  assert.not.ok(await opens('s1/bus/b2', claims.driver('d1', { buses: ['b1'] })))
  assert.not.ok(await opens('s1/system/status', teacher()))
  assert.ok(await opens('s1/system/status', { sub: 'dir', role: 'director', schools: ['s1', 's2'] }))
})

test('roles with no write path get read-only connections', async () => {
  const client = connect(server.url, 's1/leaderboard/math', await mintToken(student()))
  await within(client.synced, DEADLINE_MS, 'sync')
  assert.is(client.provider.authorizedScope, 'readonly')
  client.destroy()
  const writer = connect(server.url, 's1/doc/d1', await mintToken(student()))
  await within(writer.synced, DEADLINE_MS, 'sync')
  assert.is(writer.provider.authorizedScope, 'read-write')
  writer.destroy()
})

const PRIVATE = 's1/chat/staff'
const OPENING_RATE = /^forbidden: too many opening attempts, retry in a moment/

test('a non-member\'s 100 attempts on a large private chat read it from storage at most once', async () => {
  const messages = await storeChat(counting.target, PRIVATE, ['t1', 'u1'], 1024 * 1024)
  assert.not.ok(server.app.hocuspocus.documents.has(PRIVATE))
  const token = await mintToken(student('u9'))
  // 100 attempts fit the default burst (twice MAX_OPENS_PER_SEC = 50): every one reaches the read rule.
  const attempts = Array.from({ length: 100 }, () => connect(server.url, PRIVATE, token))
  const health = await fetch(`${server.http}/health`)
  assert.is(health.status, 200)
  assert.is((await health.json()).status, 'ok')
  const reasons = await within(Promise.all(attempts.map((a) => a.refused)), 60_000, '100 refusals')
  for (const reason of reasons) assert.match(reason, /^forbidden: u9 may not open s1\/chat\/staff/)
  assert.ok(counting.reads(PRIVATE) <= 1, `read ${counting.reads(PRIVATE)} times from storage`)
  assert.not.ok(server.app.hocuspocus.documents.has(PRIVATE))

  // Members still open it, with its whole history.
  const member = connect(server.url, PRIVATE, await mintToken(student('u1')))
  await within(member.synced, DEADLINE_MS, 'member sync')
  assert.is(member.doc.getArray('messages').length, messages)
})

test('a user added to the members while the chat is loaded can open it, also after it unloads', async () => {
  const owner = connect(server.url, PRIVATE, await mintToken(teacher('t1')))
  await within(owner.synced, DEADLINE_MS, 'teacher sync')
  const newcomer = await mintToken(student('u10'))
  assert.match(await refusalFor(PRIVATE, newcomer), /^forbidden: u10 may not open/)

  owner.doc.getMap('meta').set('members', ['t1', 'u1', 'u10'])
  await owner.acknowledged()
  const joined = connect(server.url, PRIVATE, newcomer)
  await within(joined.synced, DEADLINE_MS, 'newcomer sync')
  closeClients()
  await until(() => !server.app.hocuspocus.documents.has(PRIVATE), { what: 'the chat to unload' })

  // Unloaded again: read from storage afresh, not from a copy taken before the change.
  const again = connect(server.url, PRIVATE, newcomer)
  await within(again.synced, DEADLINE_MS, 'newcomer sync after unload')
  again.destroy()
  assert.match(await refusalFor(PRIVATE, await mintToken(student('u11'))), /^forbidden: u11 may not open/)
})

test('attempts over the opening rate are refused before any storage read, also on /y/', async () => {
  const strictDir = tempDir()
  const strictStore = countingStore(strictDir)
  await skipRetention(strictStore.target)
  const strict = await startServer({ MAX_OPENS_PER_SEC: '1' }, { dataDir: strictDir, store: strictStore.store })
  try {
    const name = 's1/chat/locked'
    await storeChat(strictStore.target, name, ['t1'], 10_000)
    const token = await mintToken(student('u8'))
    // A burst of two: spent on attempts the read rule refuses from the name alone.
    for (let i = 0; i < 2; i++) {
      const spent = connect(strict.url, 's1/inbox/someone-else', token)
      assert.match(await within(spent.refused, DEADLINE_MS, 'refusal by name'), /^forbidden: role student/)
    }
    const attempts = Array.from({ length: 10 }, () => connect(strict.url, name, token))
    const reasons = await within(Promise.all(attempts.map((a) => a.refused)), DEADLINE_MS, 'ten refusals')
    const decided = reasons.filter((reason) => !OPENING_RATE.test(reason))
    for (const reason of decided) assert.match(reason, /^forbidden: u8 may not open/)
    // The bucket refills at one a second: an attempt may have got through, never more than a few.
    assert.ok(decided.length < reasons.length, 'some attempts were over the rate')
    assert.is(strictStore.reads(name), decided.length === 0 ? 0 : 1)

    // The stock y-websocket endpoint counts the same way: the user is still over the rate.
    const y = connectY(strict.url, name, token)
    const closed = await within(y.closed, DEADLINE_MS, 'y-websocket refusal')
    if (OPENING_RATE.test(closed.reason)) assert.is(closed.code, 4429)
    else assert.match(closed.reason, /^forbidden: u8 may not open/)
  } finally {
    closeClients()
    closeYClients()
    await strict.stop()
    rmSync(strictDir, { recursive: true, force: true })
  }
})

test.run()
