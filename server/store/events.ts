// The events a back end sent (Redis stream or POST /api/v1/events), one row per event id: the id
// is the idempotency key of a delivery, so a redelivered or re-posted event is recognised, and an
// id reused for another event is refused. Beside them, the event types schools declare. A narrow store beside the main one, on the same SQLite
// file or PostgreSQL pool, with its tables created IF NOT EXISTS (not in the versioned migrations).
import type Database from 'better-sqlite3'
import type pg from 'pg'
import { PgStore } from './postgres.ts'
import { SqliteStore } from './sqlite.ts'
import type { Store } from './types.ts'
import type { EventTypeDefinition } from '../events/templates.ts'

export interface EventRecord {
  id: string
  school: string
  type: string
  priority: string
  /** Digest of the event's whole content: two events are the same when their digests are. */
  digest: string
  at: number
}

/** What recording an event found: the first time, a repeat of the same event (with its first time), or another event under the id. */
export type Recorded = { outcome: 'new' | 'same'; at: number } | { outcome: 'conflict' }

export interface EventStore {
  /** Records an event under its id once, also across instances sharing the store (INSERT … ON CONFLICT DO NOTHING, then read). */
  recordEvent(event: EventRecord): Promise<Recorded>
  /** How many recipients the event's delivery reached. */
  setRecipients(id: string, recipients: number): Promise<void>
  /** Declares (or replaces) a school's event type. */
  putEventType(school: string, type: string, definition: EventTypeDefinition, at: number): Promise<void>
  eventType(school: string, type: string): Promise<EventTypeDefinition | undefined>
  /** A school's event types, by name. */
  eventTypes(school: string): Promise<Array<{ type: string; definition: EventTypeDefinition; updatedAt: number }>>
}

type TypeRow = { type: string; definition: string; updated_at: number }
const typeRow = (r: TypeRow) => ({ type: r.type, definition: JSON.parse(r.definition) as EventTypeDefinition, updatedAt: Number(r.updated_at) })

const TABLES = `CREATE TABLE IF NOT EXISTS events (
  id TEXT PRIMARY KEY, school TEXT NOT NULL, type TEXT NOT NULL, priority TEXT NOT NULL, digest TEXT NOT NULL,
  at BIGINT NOT NULL, recipients INTEGER);
CREATE INDEX IF NOT EXISTS events_school ON events (school, at);
CREATE TABLE IF NOT EXISTS event_types (
  school TEXT NOT NULL, type TEXT NOT NULL, definition TEXT NOT NULL, updated_at BIGINT NOT NULL, PRIMARY KEY (school, type));`

const outcome = (row: { digest: string; at: number } | undefined, event: EventRecord, inserted: boolean): Recorded => {
  if (!row) throw new Error(`event ${event.id} was neither recorded nor found`)
  if (row.digest !== event.digest) return { outcome: 'conflict' }
  return { outcome: inserted ? 'new' : 'same', at: Number(row.at) }
}

class SqliteEventStore implements EventStore {
  private readonly insert: Database.Statement
  private readonly find: Database.Statement
  private readonly recipients: Database.Statement
  private readonly putType: Database.Statement
  private readonly getType: Database.Statement
  private readonly listTypes: Database.Statement

  constructor(db: Database.Database) {
    db.exec(TABLES)
    this.putType = db.prepare('INSERT INTO event_types (school, type, definition, updated_at) VALUES (?, ?, ?, ?) ON CONFLICT (school, type) DO UPDATE SET definition = excluded.definition, updated_at = excluded.updated_at')
    this.getType = db.prepare('SELECT type, definition, updated_at FROM event_types WHERE school = ? AND type = ?')
    this.listTypes = db.prepare('SELECT type, definition, updated_at FROM event_types WHERE school = ? ORDER BY type')
    this.insert = db.prepare('INSERT INTO events (id, school, type, priority, digest, at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING')
    this.find = db.prepare('SELECT digest, at FROM events WHERE id = ?')
    this.recipients = db.prepare('UPDATE events SET recipients = ? WHERE id = ?')
  }

  async recordEvent(event: EventRecord): Promise<Recorded> {
    const { changes } = this.insert.run(event.id, event.school, event.type, event.priority, event.digest, event.at)
    return outcome(this.find.get(event.id) as { digest: string; at: number } | undefined, event, changes === 1)
  }

  async setRecipients(id: string, recipients: number): Promise<void> {
    this.recipients.run(recipients, id)
  }

  async putEventType(school: string, type: string, definition: EventTypeDefinition, at: number): Promise<void> {
    this.putType.run(school, type, JSON.stringify(definition), at)
  }

  async eventType(school: string, type: string): Promise<EventTypeDefinition | undefined> {
    const row = this.getType.get(school, type) as TypeRow | undefined
    return row && typeRow(row).definition
  }

  async eventTypes(school: string) {
    return (this.listTypes.all(school) as TypeRow[]).map(typeRow)
  }
}

class PgEventStore implements EventStore {
  private readonly pool: pg.Pool
  private tables?: Promise<void>

  constructor(pool: pg.Pool) {
    this.pool = pool
  }

  private async query<R extends pg.QueryResultRow>(text: string, values: unknown[]): Promise<pg.QueryResult<R>> {
    this.tables ??= this.pool.query(TABLES).then(
      () => undefined,
      (error) => {
        this.tables = undefined
        // Two instances creating the table at once: one fails on the catalog's unique index, and the table exists.
        if ((error as { code?: string }).code === '23505' || (error as { code?: string }).code === '42P07') return
        throw error
      },
    )
    await this.tables
    return this.pool.query<R>(text, values)
  }

  async recordEvent(event: EventRecord): Promise<Recorded> {
    // Two statements: a concurrent insert of the same id makes ours wait and then do nothing, and only a new statement sees its row.
    const inserted = await this.query('INSERT INTO events (id, school, type, priority, digest, at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING', [
      event.id,
      event.school,
      event.type,
      event.priority,
      event.digest,
      event.at,
    ])
    const { rows } = await this.query<{ digest: string; at: number }>('SELECT digest, at FROM events WHERE id = $1', [event.id])
    return outcome(rows[0], event, inserted.rowCount === 1)
  }

  async setRecipients(id: string, recipients: number): Promise<void> {
    await this.query('UPDATE events SET recipients = $1 WHERE id = $2', [recipients, id])
  }

  async putEventType(school: string, type: string, definition: EventTypeDefinition, at: number): Promise<void> {
    await this.query(
      'INSERT INTO event_types (school, type, definition, updated_at) VALUES ($1, $2, $3, $4) ON CONFLICT (school, type) DO UPDATE SET definition = excluded.definition, updated_at = excluded.updated_at',
      [school, type, JSON.stringify(definition), at],
    )
  }

  async eventType(school: string, type: string): Promise<EventTypeDefinition | undefined> {
    const { rows } = await this.query<TypeRow>('SELECT type, definition, updated_at FROM event_types WHERE school = $1 AND type = $2', [school, type])
    return rows[0] && typeRow(rows[0]).definition
  }

  async eventTypes(school: string) {
    const { rows } = await this.query<TypeRow>('SELECT type, definition, updated_at FROM event_types WHERE school = $1 ORDER BY type', [school])
    return rows.map(typeRow)
  }
}

/** The event store on the same database as `store`. */
export function eventStore(store: Store): EventStore {
  if (store instanceof SqliteStore) return new SqliteEventStore(store.db)
  if (store instanceof PgStore) return new PgEventStore(store.pool)
  throw new Error(`no event store for a ${store.kind} store of class ${store.constructor.name}`)
}
