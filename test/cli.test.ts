// The `homeroom docs` admin commands on SQLite (the suite is in test/helpers/cli-suite.ts).
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import Database from 'better-sqlite3'
import { cliSuite } from './helpers/cli-suite.ts'
import { runCli } from './helpers/cli.ts'
import { startServer, tempDir } from './helpers/server.ts'
import { connect, within } from './helpers/clients.ts'
import { mintToken, teacher } from './helpers/tokens.ts'
import { SqliteStore } from '../server/store/sqlite.ts'

cliSuite({
  label: 'SQLite',
  env: {},
  async corruptNewestEntry(dataDir, doc) {
    const db = new Database(join(dataDir, 'homeroom.db'))
    try {
      const { seq, update_bytes } = db.prepare('SELECT seq, update_bytes FROM journal WHERE doc = ? ORDER BY seq DESC LIMIT 1').get(doc) as { seq: number; update_bytes: Buffer }
      db.prepare('UPDATE journal SET update_bytes = ? WHERE seq = ?').run(update_bytes.subarray(0, update_bytes.length - 3), seq)
      return seq
    } finally {
      db.close()
    }
  },
  cleanup: async () => {},
}).run()

test('a reader holding a read transaction does not block the server\'s journal appends', async () => {
  const server = await startServer()
  const client = connect(server.url, 's1/doc/busy', await mintToken(teacher('t1')))
  try {
    await within(client.synced, 5000, 'sync')
    client.doc.getMap('meta').set('title', 'first')
    await client.acknowledged()
    const reader = new SqliteStore(join(server.dataDir, 'homeroom.db'), { readonly: true })
    reader.db.exec('BEGIN')
    assert.is((await reader.listDocuments()).length, 1)
    for (let i = 0; i < 20; i++) {
      client.doc.getMap('meta').set('title', `edit ${i}`)
      await within(client.acknowledged(), 2000, 'acknowledgement while a reader holds a transaction')
    }
    assert.is((await reader.listDocuments())[0].updates, 1, 'the reader keeps its consistent view')
    reader.db.exec('COMMIT')
    assert.is((await reader.listDocuments())[0].updates, 21)
    await reader.close()
  } finally {
    client.destroy()
    await server.stop()
  }
})

test('a DATA_DIR without a store is named, with what to check', async () => {
  const result = await runCli(join(tempDir(), 'elsewhere'), ['docs', 'list'])
  assert.is(result.code, 1)
  assert.match(result.stderr, /no store at .*homeroom\.db: nothing was stored yet, or DATA_DIR points elsewhere/)
})

test.run()
