// The `homeroom docs` admin commands on SQLite (the suite is in test/helpers/cli-suite.ts).
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import Database from 'better-sqlite3'
import { cliSuite } from './helpers/cli-suite.ts'
import { runCli } from './helpers/cli.ts'
import { tempDir } from './helpers/server.ts'

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

test('a DATA_DIR without a store is named, with what to check', async () => {
  const result = await runCli(join(tempDir(), 'elsewhere'), ['docs', 'list'])
  assert.is(result.code, 1)
  assert.match(result.stderr, /no store at .*homeroom\.db: nothing was stored yet, or DATA_DIR points elsewhere/)
})

test.run()
