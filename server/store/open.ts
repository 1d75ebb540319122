// Opening the configured store: PostgreSQL when DATABASE_URL is set, else SQLite in DATA_DIR.
import { join } from 'node:path'
import { ConfigError, type Config } from '../config.ts'
import type { Logger } from '../log.ts'
import { PgStore } from './postgres.ts'
import { SqliteStore } from './sqlite.ts'
import type { Store } from './types.ts'

export function openStore(config: Config, log?: Logger): Store {
  if (config.databaseUrl) return new PgStore(config.databaseUrl, { poolSize: config.pgPoolSize, log })
  const file = join(config.dataDir, 'homeroom.db')
  try {
    return new SqliteStore(file)
  } catch (error) {
    throw new ConfigError('DATA_DIR', `cannot open ${file}: ${(error as Error).message}`)
  }
}
