// The user directory: every verified token's `sub`, `role`, `classes`, `children` and `buses`,
// per school, recorded when it authenticates, so targeting reaches users the roster does not list
// (a school that never uploaded one). One narrow table in the store, created on first use, shared
// by every instance using that store. Targeting reads `members`: the roster, plus directory users
// it does not list (the roster, uploaded by the school, wins for those it lists).
import type Database from 'better-sqlite3'
import type pg from 'pg'
import { equalityDeep } from 'lib0/function'
import * as map from 'lib0/map'
import type { Identity } from '../docs-model/types.ts'
import type { Logger } from './log.ts'
import type { RosterMember, RosterStore, Store } from './store/types.ts'

/** The warning of a notification or emergency that reached nobody. */
export const NO_RECIPIENTS = 'no-recipients'

const TABLE = `CREATE TABLE IF NOT EXISTS user_directory (
  school TEXT NOT NULL, id TEXT NOT NULL, member TEXT NOT NULL, seen_at BIGINT NOT NULL, PRIMARY KEY (school, id))`

/** The directory's table in one backend. */
interface DirectoryTable {
  upsert(school: string, member: RosterMember, at: number): Promise<void>
  list(school: string): Promise<RosterMember[]>
}

function sqliteTable(db: Database.Database): DirectoryTable {
  db.exec(TABLE)
  const upsert = db.prepare('INSERT INTO user_directory (school, id, member, seen_at) VALUES (?, ?, ?, ?) ON CONFLICT (school, id) DO UPDATE SET member = excluded.member, seen_at = excluded.seen_at')
  const list = db.prepare('SELECT member FROM user_directory WHERE school = ? ORDER BY id')
  return {
    async upsert(school, member, at) {
      upsert.run(school, member.id, JSON.stringify(member), at)
    },
    async list(school) {
      return (list.all(school) as Array<{ member: string }>).map((row) => JSON.parse(row.member))
    },
  }
}

function pgTable(pool: pg.Pool): DirectoryTable {
  let created: Promise<unknown> | undefined
  const ready = () =>
    (created ??= pool.query(TABLE).catch((error) => {
      created = undefined
      // Two instances creating the table at once: the loser fails on the catalog, and the table exists.
      if (error.code !== '23505' && error.code !== '42P07') throw error
    }))
  return {
    async upsert(school, member, at) {
      await ready()
      await pool.query(
        'INSERT INTO user_directory (school, id, member, seen_at) VALUES ($1, $2, $3, $4) ON CONFLICT (school, id) DO UPDATE SET member = excluded.member, seen_at = excluded.seen_at',
        [school, member.id, JSON.stringify(member), at],
      )
    },
    async list(school) {
      await ready()
      const { rows } = await pool.query<{ member: string }>('SELECT member FROM user_directory WHERE school = $1 ORDER BY id', [school])
      return rows.map((row) => JSON.parse(row.member))
    },
  }
}

export class Directory {
  private readonly table: DirectoryTable
  private readonly rosters: RosterStore
  private readonly log: Logger
  /**
   * What this instance last recorded per school and user: a user reconnecting unchanged costs no
   * write. The identity itself, which the user's open connections hold already (a copy as JSON
   * cost about 200 B per user).
   */
  private readonly recorded = new Map<string, Map<string, Identity>>()

  constructor(store: Store, log: Logger) {
    const backend = store as Store & { db?: Database.Database; pool?: pg.Pool }
    this.table = store.kind === 'sqlite' ? sqliteTable(backend.db!) : pgTable(backend.pool!)
    this.rosters = store
    this.log = log
  }

  /**
   * Records a verified identity in each of its schools (not services: they are nobody's recipient).
   * Never rejects: a failed write is logged, and the next authentication of that user retries.
   */
  async record(user: Identity, at: number): Promise<void> {
    if (user.role === 'service' || user.schools.includes('*')) return
    const member = memberOf(user)
    await Promise.all(
      user.schools.map(async (school) => {
        const recorded = map.setIfUndefined(this.recorded, school, () => new Map<string, Identity>())
        const last = recorded.get(user.sub)
        if (last === user || (last && equalityDeep(memberOf(last), member))) return
        recorded.set(user.sub, user)
        try {
          await this.table.upsert(school, member, at)
        } catch (error) {
          if (recorded.get(user.sub) === user) recorded.delete(user.sub)
          this.log.warn({ err: error, user: user.sub, school }, 'could not record a user in the directory; the next authentication retries')
        }
      }),
    )
  }

  /** The school's members for targeting: its roster, plus the directory's users the roster does not list. */
  async members(school: string): Promise<RosterMember[]> {
    const [roster, seen] = await Promise.all([this.rosters.roster(school), this.table.list(school)])
    const listed = new Set(roster.map((m) => m.id))
    return [...roster, ...seen.filter((m) => !listed.has(m.id))]
  }
}

const memberOf = (user: Identity): RosterMember => ({ id: user.sub, name: user.name, role: user.role, classes: user.classes, children: user.children, buses: user.buses })
