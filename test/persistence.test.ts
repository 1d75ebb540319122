// Journal and snapshots, and every failure path of storage: a failed load refuses instead of
// creating an empty document, failed appends are retried or refused, failed snapshots never pin a
// document in memory, and a thousand documents opened and closed leave nothing behind.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { join } from 'node:path'
import * as Y from 'yjs'
import { useServer } from './helpers/server.ts'
import { closeClients, connect, DEADLINE_MS, until, within } from './helpers/clients.ts'
import { mintToken, teacher } from './helpers/tokens.ts'
import { FaultyStore } from './helpers/faulty-store.ts'
import { replay } from '../server/history/replay.ts'

let store: FaultyStore
let token: string
const server = useServer({ SNAPSHOT_EVERY: '10' }, (dataDir) => ({ store: (store = new FaultyStore(join(dataDir, 'homeroom.db'))) }))
test.before(async () => {
  token = await mintToken(teacher())
})
test.after.each(() => {
  closeClients()
  store.heal()
})

const failures = async (op: string): Promise<number> =>
  (await server.app.metrics.storeFailures.get()).values.find((v) => v.labels.op === op)?.value ?? 0

async function write(name: string, key: string, value: string) {
  const client = connect(server.url, name, token)
  await within(client.synced, DEADLINE_MS, `sync ${name}`)
  client.doc.getMap('meta').set(key, value)
  return client
}

test('each accepted update is journaled with document, sequence, time, user and bytes', async () => {
  const client = await write('s1/doc/journal', 'title', 'Fractions')
  await client.acknowledged()
  const entries = await store.entriesAfter('s1/doc/journal', 0)
  assert.is(entries.length, 1)
  assert.is(entries[0].user, 't1')
  assert.is(entries[0].origin, 'client')
  assert.ok(entries[0].seq > 0 && entries[0].at > Date.now() - 60_000)
  const doc = new Y.Doc()
  Y.applyUpdate(doc, entries[0].update)
  assert.is(doc.getMap('meta').get('title'), 'Fractions')
})

test('snapshots compact the tail past the threshold; loading reads snapshot plus tail', async () => {
  const client = await write('s1/doc/snap', 'k0', 'v0')
  for (let i = 1; i < 25; i++) client.doc.getMap('meta').set(`k${i}`, `v${i}`)
  await client.acknowledged()
  client.destroy()
  await until(async () => (await store.latestSnapshot('s1/doc/snap')) !== undefined, { what: 'a snapshot' })
  await until(() => !server.app.hocuspocus.documents.has('s1/doc/snap'), { what: 'unload' })
  const snapshot = (await store.latestSnapshot('s1/doc/snap'))!
  const { doc, tail } = await replay(store, 's1/doc/snap')
  assert.ok(tail.length < 10, `tail of ${tail.length} after snapshot at ${snapshot.seq}`)
  assert.is(doc.getMap('meta').get('k24'), 'v24')
  const reader = connect(server.url, 's1/doc/snap', token)
  await within(reader.synced, DEADLINE_MS, 'reload')
  assert.is(reader.doc.getMap('meta').size, 25)
})

test("a snapshot of a loaded document holds an entry journaled elsewhere that the live copy lacks (another instance's, not yet delivered)", async () => {
  const name = 's1/doc/peer-entry'
  const client = await write(name, 'k0', 'v0')
  await client.acknowledged()
  const peer = new Y.Doc()
  peer.getMap('meta').set('peer', 'kept')
  await store.append(name, { at: Date.now(), user: 't2', origin: 'client', update: Y.encodeStateAsUpdate(peer) })
  for (let i = 1; i < 25; i++) client.doc.getMap('meta').set(`k${i}`, `v${i}`)
  await client.acknowledged()
  client.destroy()
  await until(() => !server.app.hocuspocus.documents.has(name), { what: 'unload' })
  const snapshot = (await store.latestSnapshot(name))!
  assert.is(snapshot.seq, (await store.entriesAfter(name, 0)).at(-1)!.seq, 'the snapshot covers the whole journal')
  const doc = new Y.Doc()
  Y.applyUpdate(doc, snapshot.state)
  assert.is(doc.getMap('meta').get('peer'), 'kept')
  assert.is(doc.getMap('meta').get('k24'), 'v24')
})

test('history older than a minute is merged per user and second when the document is stored, and a restart after merging loses nothing', async () => {
  const name = 's1/doc/merged'
  const source = new Y.Doc()
  const updates: Uint8Array[] = []
  source.on('update', (u: Uint8Array) => updates.push(u))
  for (let i = 0; i < 40; i++) source.getMap('meta').set(`k${i}`, i)
  // Written ten minutes ago, ten keystrokes a second by one user: four whole seconds.
  const start = Math.floor(Date.now() / 1000) * 1000 - 600_000
  for (const [i, update] of updates.entries()) await store.append(name, { at: start + 1 + i * 100, user: 't1', origin: 'client', update })
  const client = await write(name, 'late', 'now')
  await client.acknowledged()
  client.destroy()
  await until(() => !server.app.hocuspocus.documents.has(name), { what: 'unload' })
  const entries = await store.entriesAfter(name, 0)
  assert.equal(entries.slice(0, -1).map((e) => e.at), [start + 901, start + 1901, start + 2901, start + 3901], 'one entry per second, at its last change')
  await server.restart()
  const reader = connect(server.url, name, token)
  await within(reader.synced, DEADLINE_MS, 'sync after restart')
  assert.equal(reader.doc.getMap('meta').toJSON(), { ...source.getMap('meta').toJSON(), late: 'now' })
})

test('a failed load refuses the connection and never stores an empty document', async () => {
  const writer = await write('s1/doc/precious', 'title', 'keep me')
  await writer.acknowledged()
  writer.destroy()
  await until(() => !server.app.hocuspocus.documents.has('s1/doc/precious'), { what: 'unload' })
  const before = await store.entriesAfter('s1/doc/precious', 0)

  store.failLoadsOf = 'precious'
  const refused = connect(server.url, 's1/doc/precious', token)
  assert.match(await within(refused.refused, DEADLINE_MS, 'refusal'), /^unavailable: /)
  assert.not.ok(server.app.hocuspocus.documents.has('s1/doc/precious'))
  assert.equal(await store.entriesAfter('s1/doc/precious', 0), before)
  assert.ok((await failures('load')) >= 1)

  store.heal()
  const reader = connect(server.url, 's1/doc/precious', token)
  await within(reader.synced, DEADLINE_MS, 'sync after heal')
  assert.is(reader.doc.getMap('meta').get('title'), 'keep me')
})

test('a transient journal failure is retried and the update lands', async () => {
  store.fail('append', 2)
  const before = await failures('journal')
  const client = await write('s1/doc/flaky', 'title', 'after two failures')
  await client.acknowledged()
  assert.is((await failures('journal')) - before, 2)
  assert.is((await store.entriesAfter('s1/doc/flaky', 0)).length, 1)
})

test('a persistent journal failure refuses the write: not applied, not broadcast, client told', async () => {
  const other = connect(server.url, 's1/doc/down', await mintToken(teacher('t2')))
  await within(other.synced, DEADLINE_MS, 'bystander')
  store.fail('append')
  const client = await write('s1/doc/down', 'title', 'lost?')
  assert.match(await within(client.closed, DEADLINE_MS, 'close'), /^unavailable: the change could not be stored/)
  assert.is(other.doc.getMap('meta').get('title'), undefined)
  assert.is(server.app.hocuspocus.documents.get('s1/doc/down')?.getMap('meta').get('title'), undefined)
  store.heal()
})

test('a failed snapshot is logged and counted and the document still unloads', async () => {
  store.fail('writeSnapshot')
  const before = await failures('snapshot')
  const client = await write('s1/doc/nosnap', 'k', 'v')
  for (let i = 0; i < 15; i++) client.doc.getMap('meta').set(`k${i}`, 'v')
  await client.acknowledged()
  client.destroy()
  await until(() => !server.app.hocuspocus.documents.has('s1/doc/nosnap'), { what: 'unload despite failed snapshot' })
  assert.ok((await failures('snapshot')) > before)
  store.heal()
  const reader = connect(server.url, 's1/doc/nosnap', token)
  await within(reader.synced, DEADLINE_MS, 'reload')
  assert.is(reader.doc.getMap('meta').get('k14'), 'v')
})

test('a thousand documents opened and closed, some failing to load, leave nothing behind', async () => {
  const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length
  const timersBefore = timers()
  store.failLoadsOf = 'fail'
  const tokens = await Promise.all(Array.from({ length: 50 }, (_, i) => mintToken(teacher(`t${i}`))))
  for (let batch = 0; batch < 20; batch++) {
    const clients = Array.from({ length: 50 }, (_, i) => {
      const n = batch * 50 + i
      return connect(server.url, `s1/doc/${n % 10 === 0 ? 'fail' : 'ok'}${n}`, tokens[i])
    })
    await within(Promise.all(clients.map((c) => Promise.race([c.synced, c.refused]))), DEADLINE_MS, `batch ${batch}`)
    for (const [i, c] of clients.entries()) if ((batch * 50 + i) % 10 !== 0) c.doc.getMap('meta').set('n', `${i}`)
    await Promise.all(clients.map((c, i) => ((batch * 50 + i) % 10 !== 0 ? c.acknowledged() : undefined)))
    closeClients()
  }
  const { hocuspocus } = server.app
  await until(() => hocuspocus.documents.size === 0, { what: 'every document unloaded' })
  assert.is(hocuspocus.loadingDocuments.size, 0)
  assert.is(hocuspocus.unloadingDocuments.size, 0)
  assert.is(server.app.limits.socketCount(), 0)
  await until(() => timers() <= timersBefore + 2, { what: `timers back to ${timersBefore} (now ${timers()})` })
})

test.run()
