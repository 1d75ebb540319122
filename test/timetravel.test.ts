// Time travel over the journal on a real server: the state at any past time equals what the
// client had then (with snapshots in between), restore makes any root kind equal its past state,
// and the HTTP document view with its access rules and errors.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import * as Y from 'yjs'
import { resolve } from '../docs-model/registry.ts'
import { compact, truncateHistory } from '../server/history/prune.ts'
import { replay, stateAt } from '../server/history/replay.ts'
import { restoreInto } from '../server/history/restore.ts'
import { historyBounds, parseTime, TimeTravelError } from '../server/history/time.ts'
import { history } from '../server/history/trace.ts'
import { startServer, type TestServer } from './helpers/server.ts'
import { closeClients, connect, eventually, within, type Client } from './helpers/clients.ts'
import { admin, mintToken, student, teacher } from './helpers/tokens.ts'

const DOC = 's1/doc/essay'
const CHAT = 's1/chat/lab'
let server: TestServer
const steps: Record<string, Array<{ at: number; json: string }>> = { [DOC]: [], [CHAT]: [] }

const json = (name: string, doc: Y.Doc): string => JSON.stringify(resolve(name).surface.decode(doc))

async function open(name: string, token: string): Promise<Client> {
  const client = connect(server.url, name, token)
  await within(client.synced, 5000, `sync of ${name}`)
  return client
}

async function record(name: string, client: Client): Promise<void> {
  await client.acknowledged()
  const at = Date.now()
  steps[name].push({ at, json: json(name, client.doc) })
  await eventually(() => Date.now() > at, 1000, 'the clock to move')
}

/** A seeded pseudo-random sequence, so a failure can be replayed. */
function random(seed: number): () => number {
  return () => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31
    return seed / 2 ** 31
  }
}

function paragraph(text: string): Y.XmlElement {
  const p = new Y.XmlElement('paragraph')
  p.insert(0, [new Y.XmlText(text)])
  return p
}

/** One random edit of the essay: paragraphs added, edited or removed; comments; the title. */
function editEssay(doc: Y.Doc, r: () => number, i: number): void {
  const body = doc.getXmlFragment('body')
  const roll = r()
  if (roll < 0.35 || body.length === 0) body.insert(Math.floor(r() * (body.length + 1)), [paragraph(`paragraph ${i}`)])
  else if (roll < 0.55) ((body.get(Math.floor(r() * body.length)) as Y.XmlElement).get(0) as Y.XmlText).insert(0, `edit ${i} `)
  else if (roll < 0.7) body.delete(Math.floor(r() * body.length), 1)
  else if (roll < 0.85) doc.getMap('comments').set(`t1:c${i % 4}`, { text: `comment ${i}`, at: Date.now(), resolved: r() < 0.5 })
  else if (roll < 0.92) doc.getMap('comments').delete(`t1:c${i % 4}`)
  else doc.getMap('meta').set('title', `Essay v${i}`)
}

function editChat(doc: Y.Doc, r: () => number, i: number): void {
  const messages = doc.getArray('messages')
  if (r() < 0.7 || messages.length === 0) messages.push([{ id: `m${i}`, author: 't1', text: `message ${i}`, at: Date.now() }])
  else messages.delete(Math.floor(r() * messages.length), 1)
  if (r() < 0.3) doc.getMap('reads').set('t1', `m${i}`)
}

test.before(async () => {
  server = await startServer({ SERVICE_TOKEN: 'service-token-0123456789' })
  const r = random(7)
  const token = await mintToken(teacher('t1'))
  const essay = await open(DOC, token)
  const chat = await open(CHAT, token)
  for (let i = 0; i < 40; i++) {
    editEssay(essay.doc, r, i)
    await record(DOC, essay)
    editChat(chat.doc, r, i)
    await record(CHAT, chat)
    // Snapshots land between steps, as the server writes them while it runs.
    if (i % 7 === 3) {
      await compact(server.app.store, DOC)
      await compact(server.app.store, CHAT)
    }
  }
  closeClients()
})

test.after(async () => {
  closeClients()
  await server.stop()
})

test('the state at each past time equals what the client had then', async () => {
  for (const name of [DOC, CHAT]) {
    assert.ok((await server.app.store.listSnapshots(name)).length >= 5, 'snapshots bound the replay')
    for (const [i, step] of steps[name].entries()) {
      const doc = await stateAt(server.app.store, name, step.at)
      assert.is(json(name, doc), step.json, `${name} at step ${i}`)
    }
  }
})

test('restoring any past state makes the current document equal it, for maps, arrays and XML', async () => {
  for (const name of [DOC, CHAT]) {
    const { surface } = resolve(name)
    for (const step of steps[name].filter((_, i) => i % 5 === 0)) {
      const { doc } = await replay(server.app.store, name)
      const client = new Y.Doc()
      Y.applyUpdate(client, Y.encodeStateAsUpdate(doc))
      const sv = Y.encodeStateVector(doc)
      restoreInto(doc, await stateAt(server.app.store, name, step.at), surface)
      assert.is(json(name, doc), step.json)
      // The change alone brings another replica to the same state.
      Y.applyUpdate(client, Y.encodeStateAsUpdate(doc, sv))
      assert.is(json(name, client), step.json)
    }
  }
})

test('history names the paths each change touched', async () => {
  const items = await history(server.app.store, DOC)
  assert.is(items.length, steps[DOC].length)
  const paths = new Set(items.flatMap((i) => i.paths))
  assert.ok(paths.has('body'))
  assert.ok([...paths].some((p) => p.startsWith('comments/t1:c')))
  assert.ok(items.every((i) => i.user === 't1' && i.paths.length > 0))
  const window = await history(server.app.store, DOC, { from: steps[DOC][10].at + 1, to: steps[DOC][20].at })
  assert.is(window.length, 10, 'entries after step 10 up to step 20')
})

test('times parse as ISO or relative; anything else is refused with an example', () => {
  const now = Date.parse('2026-05-01T12:00:00Z')
  assert.is(parseTime('-15m', now), now - 15 * 60_000)
  assert.is(parseTime('-2h', now), now - 2 * 3_600_000)
  assert.is(parseTime('-1d', now), now - 86_400_000)
  assert.is(parseTime('2026-05-01T08:00:00Z', now), Date.parse('2026-05-01T08:00:00Z'))
  for (const bad of ['yesterday', '15m', '-1y', '1714550000000', '']) {
    assert.throws(() => parseTime(bad, now), (e: unknown) => e instanceof TimeTravelError && e.code === 'bad-time' && /ISO time/.test(e.message))
  }
})

async function view(path: string, token?: string): Promise<{ status: number; body: any }> {
  const response = await fetch(`${server.http}${path}`, { headers: token ? { Authorization: `Bearer ${token}` } : {} })
  return { status: response.status, body: await response.json() }
}

test('GET /api/v1/docs/<name> decodes the document now and at a past time', async () => {
  const token = await mintToken(admin('a1'))
  const now = await view(`/api/v1/docs/${CHAT}`, token)
  assert.is(now.status, 200)
  assert.is(JSON.stringify(now.body), steps[CHAT].at(-1)!.json)
  const past = steps[CHAT][12]
  const then = await view(`/api/v1/docs/${CHAT}?at=${new Date(past.at).toISOString()}`, token)
  assert.is(then.status, 200)
  assert.is(JSON.stringify(then.body), past.json)
  const live = await open(DOC, await mintToken(teacher('t1')))
  live.doc.getMap('meta').set('title', 'Live title')
  await live.acknowledged()
  assert.is((await view(`/api/v1/docs/${DOC}`, token)).body.meta.title, 'Live title', 'a loaded document is read live')
  live.destroy()
})

test('the document view admits admins and directors of the school and services', async () => {
  const path = `/api/v1/docs/${CHAT}`
  assert.is((await view(path, await mintToken({ sub: 'd1', role: 'director', schools: ['s2', 's1'] }))).status, 200)
  assert.is((await view(path, 'service-token-0123456789')).status, 200)
  assert.is((await view(path, await mintToken({ sub: 'svc', role: 'service', schools: ['*'] }))).status, 200)
  const otherSchool = await view(path, await mintToken({ sub: 'd2', role: 'director', schools: ['s2'] }))
  assert.is(otherSchool.status, 403)
  assert.is(otherSchool.body.error.code, 'forbidden')
  assert.is((await view(path, await mintToken(admin('a2', { schools: ['s2'] })))).status, 403)
  assert.is((await view(path, await mintToken(teacher()))).status, 403)
  assert.is((await view(path, await mintToken(student()))).status, 403)
  const anonymous = await view(path)
  assert.is(anonymous.status, 401)
  assert.is(anonymous.body.error.code, 'unauthenticated')
})

test('the document view answers errors in the contract shape', async () => {
  const token = await mintToken(admin('a1'))
  const absent = await view('/api/v1/docs/s1/chat/nothing-here', token)
  assert.is(absent.status, 404)
  assert.equal(Object.keys(absent.body.error).sort(), ['code', 'message'])
  assert.is(absent.body.error.code, 'not-found')
  assert.is((await view('/api/v1/docs/s1/chat', token)).body.error.code, 'bad-name')
  assert.is((await view('/api/v1/docs/s1/spaceship/x', token)).status, 404)
  const badTime = await view(`/api/v1/docs/${CHAT}?at=yesterday`, token)
  assert.is(badTime.status, 400)
  assert.match(badTime.body.error.message, /ISO time/)
  // After history is dropped, earlier times are refused rather than shown wrongly.
  await truncateHistory(server.app.store, CHAT, steps[CHAT][20].at)
  const early = await view(`/api/v1/docs/${CHAT}?at=${new Date(steps[CHAT][5].at).toISOString()}`, token)
  assert.is(early.status, 400)
  assert.is(early.body.error.code, 'before-retention')
  const kept = await view(`/api/v1/docs/${CHAT}?at=${new Date(steps[CHAT][25].at).toISOString()}`, token)
  assert.is(JSON.stringify(kept.body), steps[CHAT][25].json)
})

test('history dropped while a server may replay keeps what a replay from the newest snapshot needs', async () => {
  const store = server.app.store
  const newest = (await store.latestSnapshot(CHAT))!
  const current = json(CHAT, (await replay(store, CHAT)).doc)
  const first = await truncateHistory(store, CHAT, Number.POSITIVE_INFINITY, { concurrent: true })
  assert.ok(first && first.seq > newest.seq, 'a snapshot of the newest state was written')
  // A replay that picked `newest` before that snapshot existed still finds every entry after it.
  const stale = new Y.Doc()
  Y.applyUpdate(stale, newest.state)
  for (const entry of await store.entriesAfter(CHAT, newest.seq)) Y.applyUpdate(stale, entry.update)
  assert.is(json(CHAT, stale), current)
  assert.is((await historyBounds(store, CHAT)).base?.seq, newest.seq, 'history is kept back to the snapshot readers may hold')
  await truncateHistory(store, CHAT, Number.POSITIVE_INFINITY, { concurrent: true })
  assert.is((await historyBounds(store, CHAT)).base?.seq, first.seq, 'the next run drops the rest')
  assert.is(json(CHAT, (await replay(store, CHAT)).doc), current)
})

test('POST /api/v1/docs/<name>/restore restores XML content for live clients', async () => {
  const live = await open(DOC, await mintToken(teacher('t1')))
  const target = steps[DOC][15]
  const response = await fetch(`${server.http}/api/v1/docs/${DOC}/restore`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${await mintToken(admin('a1'))}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ at: new Date(target.at).toISOString() }),
  })
  assert.is(response.status, 200, await response.clone().text())
  await eventually(() => json(DOC, live.doc) === target.json, 5000, 'the live client to receive the restored essay')
  const entries = await server.app.store.entriesAfter(DOC, 0)
  assert.is(entries.at(-1)!.user, 'a1', 'the journal names who restored')
  const director = await fetch(`${server.http}/api/v1/docs/${DOC}/restore`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${await mintToken({ sub: 'd1', role: 'director', schools: ['s1'] })}` },
    body: JSON.stringify({ at: new Date(target.at).toISOString() }),
  })
  assert.is(director.status, 403)
  live.destroy()
})

test.run()
