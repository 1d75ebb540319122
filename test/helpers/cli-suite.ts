// The `homeroom docs` admin commands as one suite, run in-process (test/helpers/cli.ts) against a
// store that a real server run filled through real clients; test/cli.test.ts runs it on SQLite and
// test/cli-postgres.test.ts on PostgreSQL.
import { rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import * as Y from 'yjs'
import { resolve } from '../../docs-model/registry.ts'
import { startServer, tempDir, type TestServer } from './server.ts'
import { closeClients, connect, eventually, until, within, type Client } from './clients.ts'
import { admin, mintToken, student, teacher } from './tokens.ts'
import { runCli } from './cli.ts'
import { liveServers, startHeartbeat } from '../../server/store/heartbeat.ts'

export interface CliBackend {
  label: string
  /** Environment for the server and the command line (DATABASE_URL for PostgreSQL). */
  env: Record<string, string>
  /** Cuts a few bytes off the newest journal entry of `doc`; returns its seq. */
  corruptNewestEntry(dataDir: string, doc: string): Promise<number>
  cleanup(): Promise<void>
}

export function cliSuite(backend: CliBackend) {
  const test = suite(`homeroom docs on ${backend.label}`)
  const env = backend.env

  const NAME = 's1/chat/r1'
  const { surface } = resolve(NAME)
  const dataDir = tempDir()
  let server: TestServer | undefined

  /** The state clients had after each step, and a time at which the store held exactly that. */
  const states: Array<{ at: number; json: unknown }> = []

  const decoded = (doc: Y.Doc): unknown => JSON.parse(JSON.stringify(surface.decode(doc)))
  const iso = (ms: number) => new Date(ms).toISOString()

  async function open(name: string, token: string): Promise<Client> {
    const client = connect(server!.url, name, token)
    await within(client.synced, 5000, `sync of ${name}`)
    return client
  }

  /** Records the client's state once the server acknowledged it, then lets the clock move on. */
  async function record(client: Client): Promise<void> {
    await client.acknowledged()
    const at = Date.now()
    states.push({ at, json: decoded(client.doc) })
    await eventually(() => Date.now() > at + 1, 1000, 'the clock to move')
  }

  const message = (id: string, author: string, text: string) => ({ id, author, text, at: Date.now() })

  test.before(async () => {
    server = await startServer(env, { dataDir })
    const t1 = await open(NAME, await mintToken(teacher('t1')))
    t1.doc.transact(() => {
      t1.doc.getMap('meta').set('title', 'Room')
      t1.doc.getArray('messages').push([message('m1', 't1', 'hello')])
    })
    await record(t1)
    const u1 = await open(NAME, await mintToken(student('u1')))
    u1.doc.getArray('messages').push([message('m2', 'u1', 'hi teacher')])
    u1.doc.getMap('reads').set('u1', 'm2')
    await record(u1)
    await eventually(() => t1.doc.getArray('messages').length === 2, 5000, 'teacher to receive m2')
    t1.doc.transact(() => {
      t1.doc.getArray('messages').delete(0, 1)
      t1.doc.getMap('meta').set('title', 'Renamed')
    })
    await record(t1)
    closeClients()
  })

  test.after(async () => {
    closeClients()
    await server?.stop()
    rmSync(dataDir, { recursive: true, force: true })
    await backend.cleanup()
  })

  test('show and list read the store while the server runs (read-only, not blocking it)', async () => {
    const shown = await runCli(dataDir, ['docs', 'show', NAME, '--at', iso(states[0].at)], env)
    assert.is(shown.code, 0, shown.stderr)
    assert.equal(shown.json(), states[0].json)
    const list = await runCli(dataDir, ['docs', 'list', '--json', '--surface', 'chat'], env)
    assert.is(list.code, 0, list.stderr)
    const row = list.json().find((d: { name: string }) => d.name === NAME)
    assert.ok(row, 'the chat is listed')
    assert.ok(row.updates >= 4)
    // The server keeps journaling while a reader is open.
    const writer = await open(NAME, await mintToken(student('u2')))
    writer.doc.getMap('reads').set('u2', 'm2')
    await within(writer.acknowledged(), 5000, 'acknowledgement while the CLI reads')
    writer.doc.getMap('reads').delete('u2')
    await within(writer.acknowledged(), 5000, 'acknowledgement while the CLI reads')
    await record(writer)
    writer.destroy()
    await server!.stop()
    server = undefined
  })

  test('show --at equals the state each client had at that time', async () => {
    for (const state of states) {
      const shown = await runCli(dataDir, ['docs', 'show', NAME, '--at', iso(state.at)], env)
      assert.is(shown.code, 0, shown.stderr)
      assert.equal(shown.json(), state.json)
    }
    const now = await runCli(dataDir, ['docs', 'show', NAME], env)
    assert.equal(now.json(), states.at(-1)!.json)
    const before = await runCli(dataDir, ['docs', 'show', NAME, '--at', '-1d'], env)
    assert.equal(before.json(), { messages: [], reads: {}, meta: {} }, 'nothing existed a day ago')
  })

  test('history lists every change with time, user, bytes and paths', async () => {
    const result = await runCli(dataDir, ['docs', 'history', NAME, '--json'], env)
    assert.is(result.code, 0, result.stderr)
    const items = result.json() as Array<{ user: string; paths: string[]; bytes: number; at: string }>
    assert.equal(items[0].user, 't1')
    assert.equal(items[0].paths, ['messages', 'meta/title'])
    assert.ok(items.some((i) => i.user === 'u1' && i.paths.includes('reads/u1')))
    assert.ok(items.some((i) => i.user === 'u2' && i.paths.includes('reads/u2')))
    assert.ok(items.every((i) => i.bytes > 0 && !Number.isNaN(Date.parse(i.at))))
    const text = await runCli(dataDir, ['docs', 'history', NAME], env)
    assert.match(text.stdout, /SEQ\s+TIME\s+USER/)
    assert.match(text.stdout, /meta\/title/)
  })

  test('diff lists what changed between two times, by path, with who changed it', async () => {
    const result = await runCli(dataDir, ['docs', 'diff', NAME, '--from', iso(states[0].at), '--to', iso(states[2].at), '--json'], env)
    assert.is(result.code, 0, result.stderr)
    const changes = Object.fromEntries((result.json() as Array<{ path: string; by: string[]; after: unknown }>).map((c) => [c.path, c]))
    assert.equal(changes['meta/title'], { path: 'meta/title', by: ['t1'], entries: 1, before: 'Room', after: 'Renamed' })
    assert.equal(changes['messages'].by, ['u1', 't1'])
    assert.equal(changes['reads/u1'].after, 'm2')
    assert.not.ok(changes['reads/u2'], 'a change after --to is not listed')
  })

  test('docs diff --from alone compares with now; text output shows times as ISO, --json keeps the numbers', async () => {
    const untilNow = await runCli(dataDir, ['docs', 'diff', NAME, '--from', iso(states[0].at), '--json'], env)
    assert.is(untilNow.code, 0, untilNow.stderr)
    const explicit = await runCli(dataDir, ['docs', 'diff', NAME, '--from', iso(states[0].at), '--to', 'now', '--json'], env)
    assert.equal(untilNow.json(), explicit.json())
    const messages = (untilNow.json() as Array<{ path: string; after: Array<{ at: unknown }> }>).find((c) => c.path === 'messages')!
    assert.ok(messages.after.every((m) => typeof m.at === 'number'), 'raw numbers in --json')
    const text = await runCli(dataDir, ['docs', 'diff', NAME, '--from', iso(states[0].at)], env)
    assert.is(text.code, 0, text.stderr)
    assert.match(text.stdout, /"at":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"/)
    assert.not.match(text.stdout, /"at":\d/)
  })

  test('docs list --surface knows the surfaces; an unknown one is an error listing them', async () => {
    const chats = await runCli(dataDir, ['docs', 'list', '--surface', 'chat', '--json'], env)
    assert.is(chats.code, 0, chats.stderr)
    assert.ok(chats.json().every((d: { surface: string }) => d.surface === 'chat'))
    const unknown = await runCli(dataDir, ['docs', 'list', '--surface', 'chats'], env)
    assert.is(unknown.code, 2)
    assert.match(unknown.stderr, /^homeroom docs list: --surface: no surface is called 'chats'; the known ones are doc, board, poll, exam, chat, .*system\n$/)
  })

  test('docs history --limit shows the newest n, or the first n from --from', async () => {
    const full = (await runCli(dataDir, ['docs', 'history', NAME, '--json'], env)).json() as Array<{ seq: number; at: string }>
    assert.ok(full.length >= 3)
    const newest = await runCli(dataDir, ['docs', 'history', NAME, '--limit', '2', '--json'], env)
    assert.equal(newest.json().map((i: { seq: number }) => i.seq), full.slice(-2).map((i) => i.seq))
    const first = await runCli(dataDir, ['docs', 'history', NAME, '--limit', '1', '--from', full[0].at, '--json'], env)
    assert.equal(first.json().map((i: { seq: number }) => i.seq), [full[0].seq])
    const text = await runCli(dataDir, ['docs', 'history', NAME, '--limit', '2'], env)
    assert.match(text.stdout, new RegExp(`showing 2 of ${full.length} changes \\(--limit 2\\)`))
    for (const bad of ['0', 'two', '-3']) {
      const refused = await runCli(dataDir, ['docs', 'history', NAME, '--limit', bad], env)
      assert.is(refused.code, 2, bad)
      assert.match(refused.stderr, /--limit: '.*' is not a whole number of at least 1/)
    }
  })

  test('export and import carry a document as a Yjs update', async () => {
    const file = join(dataDir, 'r1.bin')
    const exported = await runCli(dataDir, ['docs', 'export', NAME, '--out', file], env)
    assert.is(exported.code, 0, exported.stderr)
    const imported = await runCli(dataDir, ['docs', 'import', 's1/chat/copy', file], env)
    assert.is(imported.code, 0, imported.stderr)
    assert.match(imported.stdout, /imported/)
    assert.equal((await runCli(dataDir, ['docs', 'show', 's1/chat/copy'], env)).json(), states.at(-1)!.json)
    const again = await runCli(dataDir, ['docs', 'import', 's1/chat/copy', file], env)
    assert.match(again.stdout, /nothing new/)
    const history = (await runCli(dataDir, ['docs', 'history', 's1/chat/copy', '--json'], env)).json()
    assert.equal(history.map((h: { origin: string }) => h.origin), ['import'])
    const garbage = join(dataDir, 'garbage.bin')
    writeFileSync(garbage, 'not a yjs update at all')
    const refused = await runCli(dataDir, ['docs', 'import', 's1/chat/copy', garbage], env)
    assert.is(refused.code, 1)
    assert.match(refused.stderr, /not a readable Yjs update/)
  })

  test('restore in the store, then reconnecting clients (even with old state) converge on it', async () => {
    const restored = await runCli(dataDir, ['docs', 'restore', NAME, '--at', iso(states[0].at)], env)
    assert.is(restored.code, 0, restored.stderr)
    assert.equal((await runCli(dataDir, ['docs', 'show', NAME], env)).json(), states[0].json)
    server = await startServer(env, { dataDir })
    // A client that still holds the newest state (it was offline during the restore).
    const offline = new Y.Doc()
    const stale = connect(server.url, NAME, await mintToken(teacher('t1')), { doc: offline })
    const fresh = await open(NAME, await mintToken(student('u1')))
    await within(stale.synced, 5000, 'sync of the stale client')
    assert.equal(decoded(fresh.doc), states[0].json)
    await eventually(() => JSON.stringify(decoded(offline)) === JSON.stringify(states[0].json), 5000, 'the stale client to converge')
  })

  test('restore --server applies through the running server; live clients receive it', async () => {
    const live = await open(NAME, await mintToken(teacher('t1')))
    const token = await mintToken(admin('a1'))
    const result = await runCli(dataDir, ['docs', 'restore', NAME, '--at', iso(states[1].at), '--server', server!.http, '--token', token], env)
    assert.is(result.code, 0, result.stderr)
    await eventually(() => JSON.stringify(decoded(live.doc)) === JSON.stringify(states[1].json), 5000, 'the live client to receive the restore')
    const refused = await runCli(dataDir, ['docs', 'restore', NAME, '--at', iso(states[1].at), '--server', server!.http, '--token', await mintToken(teacher())], env)
    assert.is(refused.code, 1)
    assert.match(refused.stderr, /403 forbidden/)
    // The running server is found through its heartbeat in the store, whatever PORT says.
    const heartbeat = await startHeartbeat(server!.app.store, { instance: 'test-1', address: server!.http })
    for (const command of [
      ['docs', 'restore', NAME, '--at', iso(states[0].at)],
      ['docs', 'import', NAME, join(dataDir, 'r1.bin')],
      ['docs', 'repair', NAME],
      ['docs', 'compact', NAME],
    ]) {
      const direct = await runCli(dataDir, command, { ...env, PORT: '1' })
      assert.is(direct.code, 1, command.join(' '))
      assert.match(direct.stderr, new RegExp(`a Homeroom server is running at ${server!.http} \\(instance test-1, pid ${process.pid} on .*, last heartbeat \\d+ s ago; found by its heartbeat in the store\\); .* use --server ${server!.http}`))
      assert.match(direct.stderr, /or pass --force/)
    }
    await heartbeat.stop()
    assert.equal(await liveServers(server!.app.store), [], 'a stopped server deletes its heartbeat')
    const badToken = await runCli(dataDir, ['docs', 'restore', NAME, '--at', iso(states[1].at), '--server', server!.http, '--token', await mintToken(teacher(), { secret: 'another-secret-that-is-long' })], env)
    assert.is(badToken.code, 1)
    assert.match(badToken.stderr, /^homeroom docs restore: --token: the server refused \(401 unauthenticated\): bad signature\n$/)
    closeClients()
    await server!.stop()
    server = undefined
  })

  test('a heartbeat not refreshed for three intervals (a killed server) no longer counts', async () => {
    server = await startServer(env, { dataDir })
    const store = server.app.store
    const killed = await startHeartbeat(store, { instance: 'killed', address: 'http://localhost:1' }, { intervalMs: 100 })
    // A long interval: alive for minutes after its first beat, however late a loaded machine runs its timer.
    const alive = await startHeartbeat(store, { instance: 'alive', address: 'http://localhost:2' }, { intervalMs: 60_000 })
    killed.halt()
    await until(async () => (await liveServers(store)).map((s) => s.instance).join() === 'alive', { what: 'the halted heartbeat to go stale' })
    await alive.stop()
    assert.equal(await liveServers(store), [])
    await server.stop()
    server = undefined
  })

  test('compact drops history; restore and show refuse times before it', async () => {
    const before = (await runCli(dataDir, ['docs', 'show', NAME], env)).json()
    const compacted = await runCli(dataDir, ['docs', 'compact', NAME], env)
    assert.is(compacted.code, 0, compacted.stderr)
    assert.match(compacted.stdout, /dropped \d+ journal entries/)
    assert.equal((await runCli(dataDir, ['docs', 'show', NAME], env)).json(), before)
    const refused = await runCli(dataDir, ['docs', 'restore', NAME, '--at', iso(states[0].at)], env)
    assert.is(refused.code, 1)
    assert.match(refused.stderr, /^homeroom docs restore: --at: history of s1\/chat\/r1 starts at .* is before that/)
    const shownBefore = await runCli(dataDir, ['docs', 'show', NAME, '--at', iso(states[0].at)], env)
    assert.match(shownBefore.stderr, /^homeroom docs show: --at: history of s1\/chat\/r1 starts at/)
    const diffBefore = await runCli(dataDir, ['docs', 'diff', NAME, '--from', iso(states[0].at)], env)
    assert.match(diffBefore.stderr, /^homeroom docs diff: --from: history of s1\/chat\/r1 starts at/)
    const history = await runCli(dataDir, ['docs', 'history', NAME], env)
    assert.match(history.stdout, /history starts at/)
    const all = await runCli(dataDir, ['docs', 'compact', '--json'], env)
    assert.is(all.code, 0, all.stderr)
    assert.ok(all.json().length >= 2)
    assert.is(all.stderr, '', 'no progress bar in a pipe')
  })

  test('verify passes a sound store and names a corrupted entry', async () => {
    const ok = await runCli(dataDir, ['docs', 'verify'], env)
    assert.is(ok.code, 0, ok.stdout + ok.stderr)
    assert.match(ok.stdout, /^ok: checked \d+ documents, everything decodes/m)
    server = await startServer(env, { dataDir })
    const client = await open('s1/doc/d1', await mintToken(teacher('t1')))
    client.doc.getMap('meta').set('title', 'Essay')
    client.doc.getMap('meta').set('title', 'Essay, revised')
    await client.acknowledged()
    closeClients()
    await server.stop()
    server = undefined
    const seq = await backend.corruptNewestEntry(dataDir, 's1/doc/d1')
    const bad = await runCli(dataDir, ['docs', 'verify'], env)
    assert.is(bad.code, 1)
    assert.match(bad.stdout, new RegExp(`s1/doc/d1: entry seq ${seq} does not decode`))
    const json = await runCli(dataDir, ['docs', 'verify', '--json'], env)
    assert.is(json.code, 1)
    assert.equal(json.json().problems.map((p: { doc: string; seq: number }) => [p.doc, p.seq]), [['s1/doc/d1', seq]])
    assert.match(bad.stderr, /homeroom docs repair s1\/doc\/d1/)
    // Repair quarantines the entry (no load has met it: the snapshot taken at shutdown covers it)
    // and drops it; the current content stays.
    const content = (await runCli(dataDir, ['docs', 'show', 's1/doc/d1'], env)).json()
    const repaired = await runCli(dataDir, ['docs', 'repair', 's1/doc/d1'], env)
    assert.is(repaired.code, 0, repaired.stderr)
    assert.match(repaired.stdout, new RegExp(`dropped entry seq ${seq} .*does not decode`), repaired.stdout + repaired.stderr)
    assert.equal((await runCli(dataDir, ['docs', 'show', 's1/doc/d1'], env)).json(), content)
    const clean = await runCli(dataDir, ['docs', 'verify'], env)
    assert.is(clean.code, 0, clean.stdout + clean.stderr)
  })

  test('docs verify of a document that is not stored fails (exit 1) naming it', async () => {
    const result = await runCli(dataDir, ['docs', 'verify', 's1/chat/nobody'], env)
    assert.is(result.code, 1)
    assert.is(result.stdout, '')
    assert.match(result.stderr, /^homeroom docs verify: no stored document s1\/chat\/nobody: nothing to verify \(check the name with 'homeroom docs list'\)\n$/)
    const malformed = await runCli(dataDir, ['docs', 'verify', 's1/chat'], env)
    assert.is(malformed.code, 2)
  })

  test('bad usage exits 2 with a helpful message; failed operations exit 1', async () => {
    const missing = await runCli(dataDir, ['docs', 'diff', NAME, '--to', '-1h'], env)
    assert.is(missing.code, 2)
    assert.match(missing.stderr, /--from/)
    const badTime = await runCli(dataDir, ['docs', 'show', NAME, '--at', 'yesterday'], env)
    assert.is(badTime.code, 2)
    assert.match(badTime.stderr, /^homeroom docs show: --at: 'yesterday' is not a time: use an ISO time/)
    const badTo = await runCli(dataDir, ['docs', 'diff', NAME, '--from', '-1h', '--to', 'soon'], env)
    assert.is(badTo.code, 2)
    assert.match(badTo.stderr, /^homeroom docs diff: --to: 'soon' is not a time/)
    const badName = await runCli(dataDir, ['docs', 'show', 's1/chat'], env)
    assert.is(badName.code, 2)
    assert.match(badName.stderr, /bad-name/)
    const unknown = await runCli(dataDir, ['docs', 'frobnicate'], env)
    assert.is(unknown.code, 2)
    assert.match(unknown.stderr, /--help/)
    const absent = await runCli(dataDir, ['docs', 'show', 's1/chat/never'], env)
    assert.is(absent.code, 1)
    assert.match(absent.stderr, /no stored history for s1\/chat\/never: check the name with 'homeroom docs list'/)
    for (const command of ['list', 'show', 'history', 'diff', 'export', 'import', 'restore', 'compact', 'verify', 'repair']) {
      const help = await runCli(dataDir, ['docs', command, '--help'], env)
      assert.is(help.code, 0, `docs ${command} --help`)
      assert.match(help.stdout, /Usage: homeroom docs/)
    }
  })
  return test
}
