// PostgreSQL unreachable (a cut TCP proxy in front of the real server): writes that cannot be
// journaled are refused with a clear reason instead of being lost, the instance keeps running,
// and it serves writes again once PostgreSQL is back.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { rmSync } from 'node:fs'
import { PgStore } from '../server/store/postgres.ts'
import { replay } from '../server/history/replay.ts'
import { closeClients, connect, DEADLINE_MS, until, within } from './helpers/clients.ts'
import { startProxy, type Proxy } from './helpers/proxy.ts'
import { freshDatabase, type TestDatabase } from './helpers/services.ts'
import { startServerProcess, tempDir, type ServerProcess } from './helpers/server.ts'
import WebSocket from 'ws'
import { admin, mintToken, student } from './helpers/tokens.ts'
import { Session } from '../docs-model/client/index.ts'

test.after.each(closeClients)

/** A server process whose PostgreSQL sits behind a proxy the test cuts and restores; all of it removed afterwards. */
async function withProxiedServer(label: string, run: (server: ServerProcess, proxy: Proxy, db: TestDatabase) => Promise<void>): Promise<void> {
  const db = await freshDatabase(label)
  if (!db) return
  const url = new URL(db.url)
  const proxy = await startProxy(Number(url.port || 5432), url.hostname)
  url.port = String(proxy.port)
  const dir = tempDir()
  const server = await startServerProcess(dir, { DATABASE_URL: url.toString() })
  try {
    await run(server, proxy, db)
  } finally {
    server.child.kill('SIGTERM')
    await server.exited
    await proxy.close()
    await db.drop()
    rmSync(dir, { recursive: true, force: true })
  }
}

test('writes are refused while PostgreSQL is away and accepted again when it returns', () =>
  withProxiedServer('pgoutage', async (server, proxy, db) => {
    const token = await mintToken(student('u1'))
    const name = 's1/doc/pg-outage'
    const first = connect(server.url, name, token)
    await within(first.synced, DEADLINE_MS, 'first sync')
    first.doc.getMap('comments').set('u1:before', { text: 'stored', at: Date.now() })
    await first.acknowledged()

    await proxy.cut()
    first.doc.getMap('comments').set('u1:during', { text: 'cannot be journaled', at: Date.now() })
    assert.match(await within(first.closed, DEADLINE_MS, 'refusal of the unjournaled write'), /^unavailable:/)

    await proxy.restore()
    const second = connect(server.url, name, token)
    await within(second.synced, DEADLINE_MS, 'sync after PostgreSQL returned')
    assert.ok(second.doc.getMap('comments').has('u1:before'))
    assert.not.ok(second.doc.getMap('comments').has('u1:during'), 'the refused write was not applied')
    second.doc.getMap('comments').set('u1:after', { text: 'stored again', at: Date.now() })
    await second.acknowledged()
    assert.is(server.child.exitCode, null, 'the instance kept running')

    const store = new PgStore(db.url, { poolSize: 1 })
    try {
      const stored = (await replay(store, name)).doc.getMap('comments')
      assert.equal([...stored.keys()].sort(), ['u1:after', 'u1:before'])
    } finally {
      await store.close()
    }
  }))

test('an opening that needs the store while it is away is passing: the typed client opens once PostgreSQL is back', () =>
  withProxiedServer('pgoutage_open', async (server, proxy) => {
    let session: Session | undefined
    try {
      const token = await mintToken(admin('a1'))
      const headers = { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' }
      const roster = [{ id: 'a1', name: 'Ada', role: 'admin' }, { id: 'u1', name: 'Uma', role: 'student' }]
      assert.is((await fetch(`${server.http}/api/v1/schools/s1/roster`, { method: 'PUT', headers, body: JSON.stringify(roster) })).status, 200)
      const created = await fetch(`${server.http}/api/v1/schools/s1/emergencies`, { method: 'POST', headers, body: JSON.stringify({ title: 'Drill', message: 'Line up outside', level: 'warning', targetRoles: ['student'] }) })
      assert.is(created.status, 201)
      const { document } = (await created.json()) as { document: string }
      // Who may open an emergency depends on its content: the opening reads it from the store,
      // once the announcement is done and the document unloaded (a loaded copy would answer).
      const read = async (path: string) => (await fetch(`${server.http}${path}`, { headers })).json() as Promise<any>
      await until(async () => (await read(`/api/v1/docs/${document}`)).status?.startedAt !== undefined, { what: 'the emergency announced' })
      await until(async () => (await read('/api/v1/stats')).documents === 0, { what: 'no document loaded' })
      await proxy.cut()
      session = await Session.start({ url: server.url, token: () => mintToken(student('u1')), WebSocketPolyfill: WebSocket })
      const handle = session.open(document)
      const unavailable = async () => /homeroom_refusals_total\{reason="unavailable"\} [1-9]/.test(await (await fetch(`${server.http}/metrics`)).text())
      await until(unavailable, { what: 'the opening refused as unavailable while the store is away' })
      assert.is(handle.refusal, undefined, 'not taken as a denial')
      await proxy.restore()
      await until(() => handle.synced, { what: 'the emergency open once PostgreSQL is back' })
      assert.is(handle.refusal, undefined)
    } finally {
      session?.destroy()
    }
  }))

test.run()
