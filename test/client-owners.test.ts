// The server's own writes claim the Yjs client ids they write under as 'server' before they are
// journaled, once per id and loaded document, so no user can claim those ids later; on SQLite and
// on PostgreSQL, against a real server.
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { join } from 'node:path'
import { SqliteStore } from '../server/store/sqlite.ts'
import { PgStore } from '../server/store/postgres.ts'
import type { Store } from '../server/store/types.ts'
import { SERVER_OWNER } from '../extensions/persistence.ts'
import { startServer, tempDir, type TestServer } from './helpers/server.ts'
import { closeClients, connect, eventually, within } from './helpers/clients.ts'
import { mintToken, teacher } from './helpers/tokens.ts'
import { freshDatabase } from './helpers/services.ts'

type Claim = { doc: string; clients: number[] }

/** Records the claims for the server that reach the store, to show the per-document cache at work. */
function counting<S extends Store>(store: S): S & { claims: Claim[] } {
  const claims: Claim[] = []
  const claimClients = store.claimClients.bind(store)
  return Object.assign(store, {
    claims,
    claimClients: (doc: string, clients: readonly number[], owner: string) => {
      if (owner === SERVER_OWNER) claims.push({ doc, clients: [...clients] })
      return claimClients(doc, clients, owner)
    },
  })
}

function ownersSuite(label: string, open: () => Promise<{ store: Store & { claims: Claim[] }; env: Record<string, string>; cleanup(): Promise<void> }>) {
  const test = suite(`client id owners on ${label}`)
  let server: TestServer
  let store: Store & { claims: Claim[] }
  let cleanup: () => Promise<void>

  test.before(async () => {
    const opened = await open()
    ;({ store, cleanup } = opened)
    server = await startServer(opened.env, { store })
  })
  test.after(async () => {
    closeClients()
    await server.stop()
    await cleanup()
  })

  /** The journal's entries written by the server for `name`. */
  const serverEntries = async (name: string) => (await store.entriesAfter(name, 0)).filter((e) => e.origin === 'server')

  test("a direct connection's writes claim the document's client id for the server, once", async () => {
    const name = 's1/doc/owned'
    const direct = await server.app.hocuspocus.openDirectConnection(name, {})
    const id = direct.document!.clientID
    await direct.transact((doc) => doc.getMap('meta').set('title', 'By the server'))
    await direct.transact((doc) => doc.getMap('meta').set('title', 'Still the server'))
    await eventually(async () => (await serverEntries(name)).length === 2, 5000, 'both server writes journaled')
    assert.equal(await store.clientOwners(name, [id]), new Map([[id, SERVER_OWNER]]))
    // Observers write other documents meanwhile; only this document's claims count here.
    assert.equal(store.claims.filter((c) => c.doc === name), [{ doc: name, clients: [id] }], 'claimed once for both writes')
    // A user claiming the id afterwards is told it is the server's.
    assert.equal(await store.claimClients(name, [id], 't1'), new Map([[id, SERVER_OWNER]]))
    await direct.disconnect()
  })

  test("client updates do not make the server claim the client's id", async () => {
    const name = 's1/doc/client-written'
    const client = connect(server.url, name, await mintToken(teacher('t1')))
    await within(client.synced, 5000, 'sync')
    client.doc.getMap('meta').set('title', 'By a teacher')
    await client.acknowledged()
    const owner = (await store.clientOwners(name, [client.doc.clientID])).get(client.doc.clientID)
    assert.is.not(owner, SERVER_OWNER)
    closeClients()
  })

  test('after an unload the reloaded document claims again (its client id is new)', async () => {
    const name = 's1/doc/reloaded'
    const first = await server.app.hocuspocus.openDirectConnection(name, {})
    const firstId = first.document!.clientID
    await first.transact((doc) => doc.getMap('meta').set('n', 1))
    await first.disconnect()
    await eventually(() => !server.app.hocuspocus.documents.has(name), 5000, 'unload')
    const second = await server.app.hocuspocus.openDirectConnection(name, {})
    const secondId = second.document!.clientID
    await second.transact((doc) => doc.getMap('meta').set('n', 2))
    await eventually(async () => (await serverEntries(name)).length === 2, 5000, 'both writes journaled')
    assert.equal(await store.clientOwners(name, [firstId, secondId]), new Map([[firstId, SERVER_OWNER], [secondId, SERVER_OWNER]]))
    await second.disconnect()
  })

  return test
}

// Created before any suite runs: awaiting between two run() calls would let uvu run them at once.
const database = await freshDatabase('owners')
ownersSuite('SQLite', async () => {
  const dir = tempDir()
  return { store: counting(new SqliteStore(join(dir, 'homeroom.db'))), env: {}, cleanup: async () => {} }
}).run()

if (database) {
  ownersSuite('PostgreSQL', async () => ({
    store: counting(new PgStore(database.url)),
    env: { DATABASE_URL: database.url },
    cleanup: () => database.drop(),
  })).run()
}
