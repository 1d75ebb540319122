// An unreadable journal entry (an Any value nested 5,000 deep, bytes that are not a Yjs update)
// no longer makes its document unopenable: the loader quarantines it and opens the rest, later
// loads skip it, `docs verify` lists it and `docs repair` drops it as a journaled change. Against
// a real server and real clients, on SQLite and on PostgreSQL.
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { rmSync } from 'node:fs'
import { startServer, tempDir, type TestServer } from './helpers/server.ts'
import { closeClients, connect, DEADLINE_MS, open, until, within, type Client } from './helpers/clients.ts'
import { mintToken, teacher } from './helpers/tokens.ts'
import { runCli } from './helpers/cli.ts'
import { startHeartbeat } from '../server/store/heartbeat.ts'
import { freshDatabase } from './helpers/services.ts'
import { deeplyNestedUpdate, garbageUpdate } from './helpers/store-behaviour.ts'

interface Backend {
  label: string
  env: Record<string, string>
  cleanup(): Promise<void>
}

function quarantineSuite(backend: Backend) {
  const test = suite(`quarantine on ${backend.label}`)
  const { env } = backend
  const NAME = 's1/doc/poisoned'
  const dataDir = tempDir()
  let server: TestServer | undefined
  let poisoned: number[] = []
  /** The content clients saw, which every later load must show. */
  const expected = { title: 'Essay', author: 'Ann', mark: 'A' }

  const openPoisoned = (): Promise<Client> => open(server!, NAME, teacher('t1'))

  async function unloaded(): Promise<void> {
    closeClients()
    await until(() => !server!.app.hocuspocus.documents.has(NAME), { what: `${NAME} to unload` })
  }

  const quarantinedCount = async (): Promise<number> => (await server!.app.metrics.journalQuarantined.get()).values[0]?.value ?? 0

  test.after(async () => {
    closeClients()
    await server?.stop()
    rmSync(dataDir, { recursive: true, force: true })
    await backend.cleanup()
  })

  test('good updates around poisoned entries: the document opens with the good content, counted once', async () => {
    server = await startServer(env, { dataDir })
    const writer = await openPoisoned()
    writer.doc.getMap('meta').set('title', expected.title)
    await writer.acknowledged()
    // Appended straight into the journal, as a store that predates the guard's limits might hold them.
    const store = server.app.store
    poisoned = [
      await store.append(NAME, { at: Date.now(), user: 'u9', origin: 'client', update: deeplyNestedUpdate(5000) }),
      await store.append(NAME, { at: Date.now(), user: 'u9', origin: 'client', update: garbageUpdate() }),
    ]
    writer.doc.getMap('meta').set('author', expected.author)
    await writer.acknowledged()
    writer.doc.getMap('meta').set('mark', expected.mark)
    await writer.acknowledged()
    await unloaded()

    const reader = await openPoisoned()
    assert.equal(reader.doc.getMap('meta').toJSON(), expected)
    assert.is(await quarantinedCount(), 2)
    assert.equal((await store.listQuarantined(NAME)).map((q) => [q.seq, q.user]), poisoned.map((seq) => [seq, 'u9']))
    // Later loads skip the flagged entries without trying them again.
    await unloaded()
    const again = await openPoisoned()
    assert.equal(again.doc.getMap('meta').toJSON(), expected)
    assert.is(await quarantinedCount(), 2)
    // And the document goes on working.
    again.doc.getMap('meta').set('mark', 'A+')
    await again.acknowledged()
    again.doc.getMap('meta').set('mark', expected.mark)
    await again.acknowledged()
    await unloaded()
  })

  test('show and history work again; verify lists the quarantined entries and exits 1', async () => {
    const shown = await runCli(dataDir, ['docs', 'show', NAME], env)
    assert.is(shown.code, 0, shown.stderr)
    assert.equal(shown.json().meta, expected)
    const history = await runCli(dataDir, ['docs', 'history', NAME, '--json'], env)
    assert.is(history.code, 0, history.stderr)
    assert.not.ok(history.json().some((h: { seq: number }) => poisoned.includes(h.seq)), 'quarantined entries are not history')

    const verify = await runCli(dataDir, ['docs', 'verify'], env)
    assert.is(verify.code, 1, verify.stdout)
    assert.match(verify.stdout, new RegExp(`${NAME}: entry seq ${poisoned[0]} is quarantined \\(does not decode: RangeError: Maximum call stack size exceeded\\) \\(at [^,]+, by u9\\)`))
    assert.match(verify.stdout, new RegExp(`${NAME}: entry seq ${poisoned[1]} is quarantined \\(does not decode: `))
    assert.match(verify.stderr, new RegExp(`homeroom docs repair ${NAME}`))
    const json = await runCli(dataDir, ['docs', 'verify', '--json'], env)
    assert.is(json.code, 1)
    const problems = json.json().problems as Array<{ doc: string; seq: number; at: string; user: string; quarantined: { reason: string } }>
    assert.equal(problems.map((p) => [p.doc, p.seq, p.user]), poisoned.map((seq) => [NAME, seq, 'u9']))
    assert.ok(problems.every((p) => !Number.isNaN(Date.parse(p.at)) && p.quarantined.reason.startsWith('does not decode: ')))
  })

  test('repair drops them as a journaled change; verify is clean; the content is unchanged', async () => {
    // An in-process server keeps no heartbeat of its own (`homeroom serve` does): start one for it.
    const heartbeat = await startHeartbeat(server!.app.store, { instance: 'quarantine', address: server!.http })
    const refused = await runCli(dataDir, ['docs', 'repair', NAME], env)
    assert.is(refused.code, 1)
    assert.match(refused.stderr, /a Homeroom server is running at .*--force/)
    await heartbeat.stop()
    await server!.stop()
    server = undefined

    const repaired = await runCli(dataDir, ['docs', 'repair', NAME], env)
    assert.is(repaired.code, 0, repaired.stderr)
    assert.match(repaired.stdout, new RegExp(`dropped entry seq ${poisoned[0]} .*by u9.*: does not decode`))
    assert.match(repaired.stdout, /repaired s1\/doc\/poisoned: 2 entries dropped, recorded as entry \d+/)
    const verify = await runCli(dataDir, ['docs', 'verify'], env)
    assert.is(verify.code, 0, verify.stdout + verify.stderr)
    assert.match(verify.stdout, /^ok: checked \d+ documents?, everything decodes/m)
    const history = (await runCli(dataDir, ['docs', 'history', NAME, '--json'], env)).json() as Array<{ user: string; origin: string }>
    assert.equal(history.at(-1), { ...history.at(-1)!, user: 'homeroom-cli', origin: 'restore' }, 'the repair is in the history')
    assert.equal((await runCli(dataDir, ['docs', 'show', NAME], env)).json().meta, expected)
    const nothing = await runCli(dataDir, ['docs', 'repair', NAME], env)
    assert.is(nothing.code, 0, nothing.stderr)
    assert.match(nothing.stdout, /no quarantined entries: nothing to repair/)
  })

  test('after a restart the document opens with the same content and nothing is quarantined', async () => {
    server = await startServer(env, { dataDir })
    const reader = await openPoisoned()
    assert.equal(reader.doc.getMap('meta').toJSON(), expected)
    assert.is(await quarantinedCount(), 0)
    assert.equal(await server.app.store.listQuarantined(), [])
    closeClients()
  })

  test('repair also finds an unreadable entry no load has met yet', async () => {
    await server!.stop()
    server = undefined
    const other = 's1/doc/unopened'
    server = await startServer(env, { dataDir })
    const writer = connect(server.url, other, await mintToken(teacher('t1')))
    await within(writer.synced, DEADLINE_MS, 'sync')
    writer.doc.getMap('meta').set('title', 'kept')
    await writer.acknowledged()
    const bad = await server.app.store.append(other, { at: Date.now(), user: 'u9', origin: 'client', update: garbageUpdate() })
    closeClients()
    await server.stop()
    server = undefined
    const repaired = await runCli(dataDir, ['docs', 'repair', other, '--json'], env)
    assert.is(repaired.code, 0, repaired.stderr)
    assert.equal(repaired.json().dropped.map((q: { seq: number }) => q.seq), [bad])
    assert.equal((await runCli(dataDir, ['docs', 'show', other], env)).json().meta, { title: 'kept' })
    assert.is((await runCli(dataDir, ['docs', 'verify'], env)).code, 0)
  })

  return test
}

// Created before any suite runs: awaiting between two run() calls would let uvu run them at once.
const database = await freshDatabase('quarantine')
quarantineSuite({ label: 'SQLite', env: {}, cleanup: async () => {} }).run()
if (database) quarantineSuite({ label: 'PostgreSQL', env: { DATABASE_URL: database.url }, cleanup: () => database.drop() }).run()
