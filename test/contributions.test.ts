// Contributions against a replayed multi-user editing session whose per-user counts are known
// (test/helpers/editing-session.ts, seeded): every count must match the session's own, now and at
// past times, after users reconnect under new client ids, across a store reopened (a restart),
// with snapshots in between, after history before a snapshot was dropped, with entries appended
// by two instances sharing PostgreSQL, and for the server's own writes (ids no client owns).
// Also `homeroom docs blame`, run in-process on the same store.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { join } from 'node:path'
import { rmSync } from 'node:fs'
import * as Y from 'yjs'
import { contributions, type Contributions } from '../server/history/contributions.ts'
import { compact, truncateHistory } from '../server/history/prune.ts'
import { historyBounds } from '../server/history/time.ts'
import { SqliteStore } from '../server/store/sqlite.ts'
import { PgStore } from '../server/store/postgres.ts'
import type { Store } from '../server/store/types.ts'
import { EditingSession, type KnownCounts } from './helpers/editing-session.ts'
import { tempDir } from './helpers/server.ts'
import { freshDatabase } from './helpers/services.ts'
import { runCli } from './helpers/cli.ts'
import { Rng } from './helpers/random.ts'
import { readRanges, UpdateRanges } from '../server/history/struct-ranges.ts'

const NAME = 's1/doc/essay'
const START = Date.parse('2026-03-02T09:00:00Z')
const USERS = ['u1', 'u2', 'u3', 't1']
const SEED = process.env.SEED ?? `contributions-${Date.now()}`
console.log(`contributions seed: ${SEED} (SEED=… replays it)`)

/** Writes `steps` edits of `session` to `store` as journal entries, one per `STEP_MS`, owners claimed as the guard claims them. */
async function record(store: Store, session: EditingSession, steps: number, from: number, stores: Store[] = [store]): Promise<number> {
  for (let i = 0; i < steps; i++) {
    const step = session.step()
    const target = stores[i % stores.length] // several instances: each appends its own connections' entries
    await target.claimClients(NAME, [step.client], step.user)
    await target.append(NAME, { at: from + i * 10, user: step.user, origin: 'client', update: step.update })
  }
  return from + steps * 10
}

function snapshotOf(session: EditingSession): Map<string, KnownCounts> {
  return new Map([...session.counts].map(([user, c]) => [user, { ...c }]))
}

function assertCounts(result: Contributions, known: Map<string, KnownCounts>, what: string): void {
  for (const [user, counts] of known) {
    const row = result.users.find((u) => u.user === user)
    const got = row ? { inserted: row.inserted, deleted: row.deleted, present: row.present } : undefined
    assert.equal(got, counts, `${what}: ${user} (seed ${SEED})`)
  }
}

/** The runs, character by character, equal the session's own authors of the text. */
function assertRuns(result: Contributions, session: EditingSession, what: string): void {
  const fromRuns = result.runs.flatMap((run) => Array.from(run.text.replace(/\n/g, ''), (char) => ({ user: run.user, char })))
  assert.equal(fromRuns, session.authoredText(), `${what}: runs (seed ${SEED})`)
}

test('counts and runs match the session now, at past times, across reconnects, a restart and snapshots', async () => {
  const dir = tempDir()
  const file = join(dir, 'homeroom.db')
  let store = new SqliteStore(file)
  const session = new EditingSession(SEED, USERS)
  let at = await record(store, session, 300, START)
  const early = { at: at - 10, counts: snapshotOf(session), runs: session.authoredText() }
  await compact(store, NAME)
  // Asked now, then again after more edits: the second answer reads on from the first.
  assertCounts(await contributions(store, NAME), session.counts, 'after the first phase')
  session.reconnect(5000)
  at = await record(store, session, 300, at)
  await compact(store, NAME)
  assertCounts(await contributions(store, NAME), session.counts, 'read on after the second phase')
  // A restart: the store is opened again; nothing in memory survives.
  await store.close()
  store = new SqliteStore(file)
  session.reconnect(9000)
  at = await record(store, session, 200, at)
  const now = await contributions(store, NAME)
  assert.is(now.unit, 'characters')
  assertCounts(now, session.counts, 'now')
  assertRuns(now, session, 'now')
  const sum = (key: 'present') => now.users.reduce((s, u) => s + u[key], 0)
  assert.is(sum('present'), session.authoredText().length)
  // Each user's edits span the session; every user edited.
  for (const row of now.users) assert.ok(row.firstEdit >= START && row.lastEdit <= at && row.firstEdit <= row.lastEdit, row.user)
  const past = await contributions(store, NAME, early.at)
  assertCounts(past, early.counts, 'at the first phase')
  // Without runs nothing is replayed; the counts are the same.
  for (const [when, known] of [[undefined, session.counts], [early.at, early.counts]] as const) {
    const counted = await contributions(store, NAME, when, undefined, { runs: false })
    assertCounts(counted, known, `without runs at ${when ?? 'now'}`)
    assert.equal(counted.runs, [])
  }
  assert.equal(
    past.runs.flatMap((run) => Array.from(run.text.replace(/\n/g, ''), (char) => ({ user: run.user, char }))),
    early.runs,
    'runs at the first phase',
  )
  // The same answer through the command line, as a table and as JSON.
  await store.close()
  const table = await runCli(dir, ['docs', 'blame', NAME])
  assert.is(table.code, 0, table.stderr)
  assert.match(table.stdout, /USER\s+INSERTED\s+DELETED\s+PRESENT\s+FIRST EDIT\s+LAST EDIT/)
  for (const [user, c] of session.counts) assert.match(table.stdout, new RegExp(`^${user}\\s+${c.inserted}\\s+${c.deleted}\\s+${c.present}\\s`, 'm'))
  const json = (await runCli(dir, ['docs', 'blame', NAME, '--at', new Date(early.at).toISOString(), '--json'])).json()
  assert.is(json.at, new Date(early.at).toISOString())
  assertCounts({ ...json, users: json.users }, early.counts, 'blame --at --json')
  const poll = await runCli(dir, ['docs', 'blame', 's1/poll/p1'])
  assert.is(poll.code, 2)
  assert.match(poll.stderr, /neither text nor board elements/)
  rmSync(dir, { recursive: true, force: true })
})

test('after history before a snapshot is dropped, what it holds stays its owners; later deletions still count', async () => {
  const dir = tempDir()
  const store = new SqliteStore(join(dir, 'homeroom.db'))
  const session = new EditingSession(`${SEED}-pruned`, USERS)
  let at = await record(store, session, 300, START)
  const before = snapshotOf(session)
  assertCounts(await contributions(store, NAME), before, 'before pruning')
  const pruned = await truncateHistory(store, NAME)
  assert.ok(pruned && pruned.dropped > 0, 'history was dropped')
  const { start } = await historyBounds(store, NAME)
  assert.ok(start > START)
  at = await record(store, session, 200, at)
  const result = await contributions(store, NAME)
  assertRuns(result, session, 'after pruning')
  for (const [user, c] of session.counts) {
    const row = result.users.find((u) => u.user === user)!
    // The snapshot keeps what is present (with its client ids' owners), not who deleted what before it.
    assert.is(row.present, c.present, `${user} present`)
    assert.is(row.deleted, c.deleted - before.get(user)!.deleted, `${user} deletions after the snapshot`)
    assert.ok(row.firstEdit >= start, `${user}: no edit dated before history starts`)
  }
  assert.ok([...before.values()].some((c) => c.deleted > 0), 'deletions were dropped with the history')
  await store.close()
  rmSync(dir, { recursive: true, force: true })
})

test('the server writing under an id no client owns is credited to the journal entry user', async () => {
  const dir = tempDir()
  const store = new SqliteStore(join(dir, 'homeroom.db'))
  const session = new EditingSession(`${SEED}-server`, ['u1'])
  const at = await record(store, session, 50, START)
  // A restore by t1: the server's own document (its own client id) rewrites the paragraph.
  const server = new Y.Doc()
  Y.applyUpdate(server, Y.encodeStateAsUpdate(session.doc))
  const before = Y.encodeStateVector(server)
  server.getXmlFragment('body').insert(0, [new Y.XmlText('restored')])
  await store.append(NAME, { at, user: 't1', origin: 'server', update: Y.encodeStateAsUpdate(server, before) })
  const result = await contributions(store, NAME)
  const t1 = result.users.find((u) => u.user === 't1')!
  assert.equal([t1.inserted, t1.present, t1.firstEdit], [8, 8, at])
  assert.equal(result.runs[0], { user: 't1', text: 'restored' })
  await store.close()
  rmSync(dir, { recursive: true, force: true })
})

test('two instances appending to one PostgreSQL journal: both answer the known counts', async () => {
  const database = await freshDatabase('contributions')
  if (!database) return
  const [a, b] = [new PgStore(database.url), new PgStore(database.url)]
  try {
    const session = new EditingSession(`${SEED}-pg`, USERS)
    await record(a, session, 200, START, [a, b])
    for (const store of [a, b]) {
      const result = await contributions(store, NAME)
      assertCounts(result, session.counts, `instance ${store === a ? 'a' : 'b'}`)
      assertRuns(result, session, 'postgres')
    }
  } finally {
    await a.close()
    await b.close()
    await database.drop()
  }
})

test('a board: elements drawn, moved and erased, by their first writer', async () => {
  const dir = tempDir()
  const store = new SqliteStore(join(dir, 'homeroom.db'))
  const board = 's1/board/art'
  const doc = new Y.Doc()
  let pending: Uint8Array | undefined
  doc.on('update', (u: Uint8Array) => (pending = u))
  let at = START
  const as = async (user: string, client: number, change: (elements: Y.Map<unknown>) => void) => {
    doc.clientID = client
    doc.transact(() => change(doc.getMap('elements')))
    await store.claimClients(board, [client], user)
    await store.append(board, { at: (at += 10), user, origin: 'client', update: pending! })
  }
  await as('u1', 11, (e) => e.set('u1:a', { kind: 'rect', color: '#000', z: 1 }))
  await as('u1', 11, (e) => e.set('u1:b', { kind: 'rect', color: '#000', z: 2 }))
  await as('u2', 12, (e) => e.set('u2:c', { kind: 'line', color: '#000', z: 3 }))
  await as('t1', 13, (e) => e.set('u1:a', { kind: 'rect', color: '#f00', z: 4 })) // the teacher recolours u1's element
  await as('t1', 13, (e) => e.delete('u1:b'))
  await as('u2', 12, (e) => e.delete('u2:c'))
  const result = await contributions(store, board)
  assert.is(result.unit, 'elements')
  const rows = Object.fromEntries(result.users.map((u) => [u.user, [u.inserted, u.deleted, u.present]]))
  assert.equal(rows, { u1: [2, 0, 1], u2: [1, 1, 0], t1: [0, 1, 0] })
  await store.close()
  rmSync(dir, { recursive: true, force: true })
})

test('the struct reader agrees with Y.decodeUpdate on every kind of content, merged updates and snapshots', () => {
  const rng = new Rng(`${SEED}-reader`)
  const doc = new Y.Doc()
  const updates: Uint8Array[] = []
  doc.on('update', (u: Uint8Array) => updates.push(u))
  const values = [1, -7, 2 ** 40, 1.5, 0.1, 'text', null, true, false, undefined, { a: [1, { b: 'é😀' }] }, [], new Uint8Array([1, 2, 3])]
  for (let i = 0; i < 400; i++) {
    doc.clientID = 1 + rng.int(4)
    const text = doc.getText('t')
    const map = doc.getMap('m')
    const roll = rng.int(10)
    if (roll === 0) text.insert(rng.int(text.length + 1), rng.chance(0.5) ? 'abc' : 'é😀x')
    else if (roll === 1 && text.length > 2) text.format(rng.int(text.length - 1), 2, { bold: rng.chance(0.5) ? true : null })
    else if (roll === 2) text.insertEmbed(rng.int(text.length + 1), { image: 'x.png' })
    else if (roll === 3) map.set(`k${rng.int(20)}`, values[rng.int(values.length)])
    else if (roll === 4) map.set(`t${rng.int(5)}`, rng.chance(0.5) ? new Y.Map() : new Y.XmlElement('p'))
    else if (roll === 5) map.set(`d${rng.int(3)}`, new Y.Doc())
    else if (roll === 6) doc.getXmlFragment('x').insert(0, [rng.chance(0.5) ? new Y.XmlText('hi') : (new Y.XmlHook('hook') as unknown as Y.XmlElement)])
    else if (roll === 7 && text.length > 0) text.delete(rng.int(text.length), 1)
    else if (roll === 8) map.delete(`k${rng.int(20)}`)
    else doc.getArray('a').insert(0, [values[rng.int(values.length)] ?? 0, 'x'])
  }
  // A merged run with gaps (skips), and the whole state after garbage collection.
  const cases = [...updates, Y.mergeUpdates(updates.filter((_, i) => i % 3 === 0)), Y.encodeStateAsUpdate(doc)]
  const out = new UpdateRanges()
  for (const [i, update] of cases.entries()) {
    const decoded = Y.decodeUpdate(update)
    const structs = decoded.structs
      .filter((s) => s instanceof Y.Item)
      .flatMap((s) => [s.id.client, s.id.clock, s.length, (s as Y.Item).content instanceof Y.ContentString ? 1 : 0])
    const deletes = [...decoded.ds.clients].flatMap(([client, items]) => items.flatMap((d) => [client, d.clock, d.len]))
    readRanges(update, out)
    assert.equal(out.structs, structs, `structs of update ${i} (seed ${SEED})`)
    assert.equal(out.deletes, deletes, `deletes of update ${i}`)
  }
  assert.throws(() => readRanges(new Uint8Array([1, 1, 5, 0, 99]), out), RangeError)
  assert.throws(() => readRanges(updates[0].slice(0, 5), out), RangeError)
})

test.run()
