// Opening the configured store: PostgreSQL when DATABASE_URL is set, else SQLite in DATA_DIR.
import { join } from 'node:path'
import { ConfigError, type Config } from '../config.ts'
import type { Logger } from '../log.ts'
import { PgStore } from './postgres.ts'
import { SqliteStore } from './sqlite.ts'
import type { Store } from './types.ts'

/** `server`: the store of the running server (SQLite records appends in its append log first; one server per file). */
export function openStore(config: Config, log?: Logger, options: { server?: boolean } = {}): Store {
  if (config.databaseUrl) return new PgStore(config.databaseUrl, { poolSize: config.pgPoolSize, log })
  const file = join(config.dataDir, 'homeroom.db')
  try {
    if (!options.server) return new SqliteStore(file)
    const store = new SqliteStore(file, { appendLog: true, onMoveError: (err) => log?.error({ err }, 'moving logged journal entries into SQLite failed; they stay logged, retrying') })
    if (store.recovered.entries > 0) log?.info({ entries: store.recovered.entries }, 'journal entries recovered from the append log')
    if (store.recovered.tornBytes > 0) log?.warn({ bytes: store.recovered.tornBytes }, 'a torn record at the end of the append log was dropped (a write cut by a crash; it was never acknowledged)')
    return store
  } catch (error) {
    throw new ConfigError('DATA_DIR', `cannot open ${file}: ${(error as Error).message}`)
  }
}
