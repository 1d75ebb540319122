// The `homeroom docs` admin commands on PostgreSQL (DATABASE_URL), the same suite as on SQLite;
// skipped loudly when PostgreSQL cannot be reached (a failure under CI).
import { cliSuite } from './helpers/cli-suite.ts'
import { freshDatabase, sql } from './helpers/services.ts'

const database = await freshDatabase('cli')
if (database) {
  cliSuite({
    label: 'PostgreSQL',
    env: { DATABASE_URL: database.url },
    async corruptNewestEntry(_dataDir, doc) {
      const [{ seq }] = await sql<{ seq: string }>(database.url, 'SELECT seq FROM journal WHERE doc = $1 ORDER BY seq DESC LIMIT 1', [doc])
      await sql(database.url, 'UPDATE journal SET update_bytes = substring(update_bytes from 1 for octet_length(update_bytes) - 3) WHERE seq = $1', [seq])
      return Number(seq)
    },
    cleanup: () => database.drop(),
  }).run()
}
