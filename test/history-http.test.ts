// A document's history over HTTP on a real server: two students write an essay and draw on a
// board through real provider clients; who may read `?at=`, `/history` and `/contributions`
// (admins, directors, services of the school; teachers for their classes' documents and the docs
// and boards they may read; never students), paging history newest first, and a teacher's
// restore arriving at a live client as a new change.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import * as Y from 'yjs'
import { useServer } from './helpers/server.ts'
import { closeClients, eventually, open, type Client } from './helpers/clients.ts'
import { api, assertError } from './helpers/api.ts'
import { claims, mintToken } from './helpers/tokens.ts'
import { tempDir } from './helpers/server.ts'
import { Rng } from './helpers/random.ts'
import { historyPage } from '../server/routes/doc-history.ts'
import { compact } from '../server/history/prune.ts'
import { SqliteStore } from '../server/store/sqlite.ts'
import { join } from 'node:path'
import { rmSync } from 'node:fs'

const SEED = process.env.SEED ?? `history-http-${Date.now()}`
console.log(`history-http seed: ${SEED} (SEED=… replays it)`)
const START = Date.parse('2026-03-02T09:00:00Z')

const server = useServer({ SERVICE_TOKEN: 'service-token-0123456789' })
const ESSAY = 's1/doc/essay'
const BOARD = 's1/board/art'
const CLASS = 's1/class/7a'

let u1: Client
let u2: Client
let tokens: Record<string, string>
/** Times between the edits, for `?at=`. */
let afterFirst = 0

function textOf(doc: Y.Doc): Y.XmlText {
  const body = doc.getXmlFragment('body')
  if (body.length === 0) {
    const p = new Y.XmlElement('paragraph')
    p.insert(0, [new Y.XmlText()])
    body.insert(0, [p])
  }
  return (body.get(0) as Y.XmlElement).get(0) as Y.XmlText
}

const get = (path: string, who: string) => api(server, 'GET', `/api/v1/docs/${path}`, { token: tokens[who] })

test.before(async () => {
  tokens = {
    u1: await mintToken(claims.student('u1', { classes: ['7a'] })),
    u2: await mintToken(claims.student('u2', { classes: ['7a'] })),
    t1: await mintToken(claims.teacher('t1', { classes: ['7a'] })),
    t2: await mintToken(claims.teacher('t2', { classes: ['8b'] })),
    other: await mintToken(claims.teacher('t3', { schools: ['s2'] })),
    a1: await mintToken(claims.admin('a1')),
    dir: await mintToken(claims.director('dir1')),
    svc: await mintToken(claims.service('svc', { schools: ['*'] })),
    parent: await mintToken(claims.parent('p1')),
  }
  u1 = await open(server, ESSAY, tokens.u1)
  textOf(u1.doc).insert(0, 'Hello ')
  await u1.acknowledged()
  afterFirst = Date.now()
  await eventually(() => Date.now() > afterFirst, 1000, 'the clock to move')
  u2 = await open(server, ESSAY, tokens.u2)
  await eventually(() => textOf(u2.doc).length === 6, 5000, 'u2 to see u1 text')
  textOf(u2.doc).insert(6, 'world')
  textOf(u2.doc).delete(0, 1) // u2 deletes one of u1's characters
  await u2.acknowledged()
  const b1 = await open(server, BOARD, tokens.u1)
  b1.doc.getMap('elements').set('u1:e1', { kind: 'rect', color: '#000', z: 1 })
  b1.doc.getMap('elements').set('u1:e2', { kind: 'rect', color: '#000', z: 2 })
  await b1.acknowledged()
  b1.doc.getMap('elements').delete('u1:e2')
  await b1.acknowledged()
})

test.after(() => closeClients())

test('contributions: per user characters inserted, deleted, present, and the text in runs by author', async () => {
  const response = await get(`${ESSAY}/contributions`, 't1')
  assert.is(response.status, 200, JSON.stringify(response.json))
  const body = response.json
  assert.is(body.name, ESSAY)
  assert.is(body.at, null)
  assert.is(body.unit, 'characters')
  const row = (user: string) => body.users.find((u: any) => u.user === user)
  assert.equal({ ...row('u1'), firstEdit: undefined, lastEdit: undefined }, { user: 'u1', inserted: 6, deleted: 0, present: 5, firstEdit: undefined, lastEdit: undefined })
  assert.equal({ ...row('u2'), firstEdit: undefined, lastEdit: undefined }, { user: 'u2', inserted: 5, deleted: 1, present: 5, firstEdit: undefined, lastEdit: undefined })
  assert.ok(Date.parse(row('u1').firstEdit) <= afterFirst && Date.parse(row('u2').firstEdit) >= afterFirst, 'first edits in order')
  assert.equal(body.runs, [
    { user: 'u1', text: 'ello ' },
    { user: 'u2', text: 'world' },
  ])
})

test('contributions at a past time (ISO or milliseconds) count only what was written by then', async () => {
  for (const at of [new Date(afterFirst).toISOString(), String(afterFirst)]) {
    const response = await get(`${ESSAY}/contributions?at=${encodeURIComponent(at)}`, 'a1')
    assert.is(response.status, 200, JSON.stringify(response.json))
    assert.is(response.json.at, new Date(afterFirst).toISOString())
    assert.equal(response.json.users.map((u: any) => [u.user, u.inserted, u.present]), [['u1', 6, 6]])
    assert.equal(response.json.runs, [{ user: 'u1', text: 'Hello ' }])
  }
})

test('contributions of a board count elements; other documents have none', async () => {
  const response = await get(`${BOARD}/contributions`, 't1')
  assert.is(response.status, 200, JSON.stringify(response.json))
  assert.is(response.json.unit, 'elements')
  assert.equal(response.json.runs, [])
  const row = response.json.users.find((u: any) => u.user === 'u1')
  assert.equal([row.inserted, row.deleted, row.present], [2, 1, 1])
  assertError(await get('s1/poll/p1/contributions', 'a1'), 400, 'bad-request')
})

test('history pages newest first, with a cursor to the next page', async () => {
  await compact(server.app.store, ESSAY) // pages then come from below the newest snapshot
  const all = await get(`${ESSAY}/history?limit=500`, 'a1')
  assert.is(all.status, 200, JSON.stringify(all.json))
  assert.is(all.json.next, null)
  const seqs = all.json.entries.map((e: any) => e.seq)
  assert.ok(seqs.length >= 3, `${seqs.length} entries`)
  assert.equal(seqs, [...seqs].sort((a: number, b: number) => b - a), 'newest first')
  for (const entry of all.json.entries) {
    assert.type(entry.at, 'string')
    assert.ok(Number.isFinite(Date.parse(entry.at)))
    assert.ok(entry.bytes > 0)
    assert.ok(['u1', 'u2'].includes(entry.user), entry.user)
    assert.is(entry.origin, 'client')
  }
  const paged: number[] = []
  let before: number | null | undefined
  do {
    const page = await get(`${ESSAY}/history?limit=2${before ? `&before=${before}` : ''}`, 't1')
    assert.is(page.status, 200)
    assert.ok(page.json.entries.length <= 2)
    paged.push(...page.json.entries.map((e: any) => e.seq))
    before = page.json.next
  } while (before !== null)
  assert.equal(paged, seqs)
  assertError(await get(`${ESSAY}/history?before=abc`, 'a1'), 400, 'bad-request')
  assertError(await get('s1/doc/never-written/history', 'a1'), 404)
})

test('a document named like a view is that document', async () => {
  // `s1/doc/history` is the doc called history, not the history of `s1/doc`.
  assertError(await get('s1/doc/history', 'a1'), 404, 'not-found')
})

test('who may look back: admins, directors, services of the school; teachers for docs, boards and their classes; never students', async () => {
  const paths = [`${ESSAY}`, `${ESSAY}?at=${afterFirst}`, `${ESSAY}/history`, `${ESSAY}/contributions`]
  for (const path of paths) {
    for (const who of ['a1', 'dir', 'svc', 't1', 't2']) assert.is((await get(path, who)).status, 200, `${who} GET ${path}`)
    for (const who of ['u1', 'u2', 'parent', 'other']) assertError(await get(path, who), 403, 'forbidden')
  }
  // A class document: its teachers only, among teachers.
  // t1 teaches 7a: past the access check, to a class document with nothing stored yet.
  assertError(await get(`${CLASS}/history`, 't1'), 404, 'not-found')
  assertError(await get(`${CLASS}/history`, 't2'), 403, 'forbidden')
  assertError(await get(`${CLASS}?at=${afterFirst}`, 't2'), 403, 'forbidden')
  assertError(await api(server, 'GET', `/api/v1/docs/${ESSAY}/history`), 401)
})

test('a teacher restores their doc: a new change a live client receives; students may not restore', async () => {
  assertError(await api(server, 'POST', `/api/v1/docs/${ESSAY}/restore`, { token: tokens.u1, json: { at: new Date(afterFirst).toISOString() } }), 403, 'forbidden')
  assertError(await api(server, 'POST', `/api/v1/docs/${CLASS}/restore`, { token: tokens.t1, json: { at: new Date(afterFirst).toISOString() } }), 403, 'forbidden')
  const response = await api(server, 'POST', `/api/v1/docs/${ESSAY}/restore`, { token: tokens.t1, json: { at: new Date(afterFirst).toISOString() } })
  assert.is(response.status, 200, JSON.stringify(response.json))
  assert.is(response.json.restoredTo, new Date(afterFirst).toISOString())
  await eventually(() => textOf(u1.doc).toString() === 'Hello ', 5000, 'the live client to receive the restore')
  // The restore is a change of its own, journaled as the teacher's: the history shows it first.
  const history = await get(`${ESSAY}/history?limit=1`, 'a1')
  assert.is(history.json.entries[0].user, 't1')
  // Who wrote what now: the restored characters are the teacher's (the server wrote them again), u2's are gone.
  const after = await get(`${ESSAY}/contributions`, 'a1')
  const present = Object.fromEntries(after.json.users.map((u: any) => [u.user, u.present]))
  assert.is(after.json.runs.map((r: any) => r.text).join(''), 'Hello ')
  assert.is(present.u2, 0)
  assert.is((present.u1 ?? 0) + (present.t1 ?? 0), 6)
})

// Last: it works on a store of its own, and its synchronous reads would hold up the server's sockets.
test('history pages match the journal newest first, for documents whose entries interleave, with snapshots between', async () => {
  const dir = tempDir()
  const store = new SqliteStore(join(dir, 'homeroom.db'))
  const rng = new Rng(SEED)
  const docs = ['s1/board/a', 's1/board/b', 's1/board/c']
  const journal = new Map<string, number[]>(docs.map((d) => [d, []]))
  const authors = new Map(docs.map((d) => [d, new Y.Doc()]))
  for (let i = 0; i < 900; i++) {
    // Mostly one document: the others' entries leave gaps of every size in its sequence numbers.
    const name = docs[rng.chance(0.7) ? 0 : 1 + rng.int(2)]
    const author = authors.get(name)!
    const before = Y.encodeStateVector(author)
    author.getMap('elements').set(`u1:e${i}`, { kind: 'dot', color: '#000', z: i })
    journal.get(name)!.push(await store.append(name, { at: START + i, user: 'u1', origin: 'client', update: Y.encodeStateAsUpdate(author, before) }))
    if (rng.chance(0.006)) await compact(store, name)
  }
  for (const name of docs) {
    for (const limit of [1, 7, 500]) {
      const seen: number[] = []
      let before: string | undefined
      for (;;) {
        const page = await historyPage(store, name, { limit, before })
        assert.ok(page.entries.length <= limit)
        seen.push(...page.entries.map((e) => e.seq))
        if (page.next === null) break
        before = String(page.next)
      }
      assert.equal(seen, [...journal.get(name)!].reverse(), `${name}, pages of ${limit} (seed ${SEED})`)
    }
  }
  await store.close()
  rmSync(dir, { recursive: true, force: true })
})

test.run()
