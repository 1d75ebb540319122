// The events a back end sent (Redis stream or POST /api/v1/events), one row per event id: the id
// is the idempotency key of a delivery, so a redelivered or re-posted event is recognised, and an
// id reused for another event is refused. Beside them, the event types schools declare, the
// per-recipient deliveries, directors' current schools, and the outbox of the events webhook
// (server/events/outbox.ts). A narrow store beside the main one, on the same SQLite file or
// PostgreSQL pool, with its tables created IF NOT EXISTS (not in the versioned migrations).
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

/** Which school a user of several schools (a director) works in now. */
export interface SchoolContextStore {
  /** Sets the user's current school; returns the one before (undefined the first time). */
  switchSchool(user: string, school: string, at: number): Promise<string | undefined>
  currentSchool(user: string): Promise<{ school: string; at: number } | undefined>
}

/** One webhook delivery waiting in the outbox, as claimed for an attempt. */
export interface OutboxRow {
  id: string
  event: string
  /** The exact body every attempt sends (signed afresh each time). */
  body: string
  /** Attempts made, the one just claimed included. */
  attempts: number
}

/**
 * The events webhook's outbox: a delivery is a row from the moment its event is published until
 * the receiver accepts it or it is given up, so retries survive restarts. Claiming moves a row's
 * `next_at` a lease ahead, so no other instance (or later sweep) attempts it meanwhile, and one
 * that died mid-attempt is attempted again once the lease ran out.
 */
export interface OutboxStore {
  /** Adds a delivery under its id, once: false when the id is there already (delivered, failed or waiting). */
  enqueueWebhook(row: { id: string; event: string; body: string }, at: number): Promise<boolean>
  /** Up to `limit` waiting deliveries due at `now`, oldest first, each claimed until `leaseUntil` and its attempts counted. */
  claimWebhooks(now: number, leaseUntil: number, limit: number): Promise<OutboxRow[]>
  /** The receiver accepted them: never attempted again. */
  webhooksDelivered(ids: string[], at: number): Promise<void>
  /** Attempted again at `nextAt`. */
  webhookRetry(id: string, nextAt: number, error: string): Promise<void>
  /** Given up (refused, or out of attempts): kept, with why, until pruned. */
  webhookFailed(id: string, at: number, error: string): Promise<void>
  /** Deliveries waiting (not delivered, not given up). */
  webhooksWaiting(): Promise<number>
  /** Forgets deliveries settled before `before`; their ids may then be published again. */
  pruneWebhooks(before: number): Promise<number>
}

export interface EventStore extends DeliveryStore, SchoolContextStore, OutboxStore {
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

/** One inbox item of one recipient, as the inbox observer records it (extensions/observers/inbox.ts). */
export interface DeliveryRow {
  school: string
  item: string
  user: string
  type: string
  priority: string
  title: string
  /** When the server recorded the item in the inbox. */
  at: number
}

export interface DeliveryState {
  school: string
  user: string
  deliveredAt: number | null
  readAt: number | null
}

export interface DeliveryCounts {
  type: string
  priority: string
  /** Recipients (one per item and user), distinct items, and how many of the recipients were delivered to and read. */
  recipients: number
  items: number
  delivered: number
  read: number
}

/** Per recipient and inbox item: when it was recorded, delivered (a client of the recipient holds it) and read. */
export interface DeliveryStore {
  /** Records items; a row already there is kept. */
  recordDeliveries(rows: DeliveryRow[]): Promise<void>
  /** Marks every recorded item of the user's inbox not yet delivered as delivered at `at`. */
  markDelivered(school: string, user: string, at: number): Promise<void>
  /** Marks the items read (and delivered) at `at`, keeping earlier marks. */
  markRead(school: string, user: string, items: string[], at: number): Promise<void>
  /** The recipients of an item, in the given schools (every school for `*`). */
  deliveriesOf(item: string, schools: string[]): Promise<DeliveryState[]>
  /** Counts by type and priority of a school's items recorded at or after `since`. */
  deliveryCounts(school: string, since: number): Promise<DeliveryCounts[]>
  /** Recorded at or before `before` with one of `priorities`, never delivered, not yet reported: at most `limit`, oldest first. */
  undelivered(before: number, priorities: readonly string[], limit: number): Promise<DeliveryRow[]>
  /** Marks rows reported as undelivered, so no sweep reports them again. */
  markReported(rows: Array<Pick<DeliveryRow, 'school' | 'item' | 'user'>>): Promise<void>
}

type TypeRow = { type: string; definition: string; updated_at: number }
const typeRow = (r: TypeRow) => ({ type: r.type, definition: JSON.parse(r.definition) as EventTypeDefinition, updatedAt: Number(r.updated_at) })

const TABLES = `CREATE TABLE IF NOT EXISTS events (
  id TEXT PRIMARY KEY, school TEXT NOT NULL, type TEXT NOT NULL, priority TEXT NOT NULL, digest TEXT NOT NULL,
  at BIGINT NOT NULL, recipients INTEGER);
CREATE INDEX IF NOT EXISTS events_school ON events (school, at);
CREATE TABLE IF NOT EXISTS event_types (
  school TEXT NOT NULL, type TEXT NOT NULL, definition TEXT NOT NULL, updated_at BIGINT NOT NULL, PRIMARY KEY (school, type));
CREATE TABLE IF NOT EXISTS deliveries (
  school TEXT NOT NULL, user_id TEXT NOT NULL, item TEXT NOT NULL, type TEXT NOT NULL, priority TEXT NOT NULL, title TEXT NOT NULL,
  at BIGINT NOT NULL, delivered_at BIGINT, read_at BIGINT, reported INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (school, user_id, item));
CREATE INDEX IF NOT EXISTS deliveries_item ON deliveries (item);
CREATE TABLE IF NOT EXISTS school_contexts (user_id TEXT PRIMARY KEY, school TEXT NOT NULL, at BIGINT NOT NULL);
CREATE INDEX IF NOT EXISTS deliveries_school_at ON deliveries (school, at);
CREATE INDEX IF NOT EXISTS deliveries_undelivered ON deliveries (at) WHERE delivered_at IS NULL AND reported = 0;
CREATE TABLE IF NOT EXISTS webhook_outbox (
  id TEXT PRIMARY KEY, event TEXT NOT NULL, body TEXT NOT NULL, created_at BIGINT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
  next_at BIGINT NOT NULL, delivered_at BIGINT, failed_at BIGINT, last_error TEXT);
CREATE INDEX IF NOT EXISTS webhook_outbox_due ON webhook_outbox (next_at) WHERE delivered_at IS NULL AND failed_at IS NULL;`

/** Outbox statements both stores run as they are (`delivered` is SQLite's; PostgreSQL's takes an array). */
const OUTBOX = {
  enqueue: 'INSERT INTO webhook_outbox (id, event, body, created_at, next_at) VALUES ($1, $2, $3, $4, $4) ON CONFLICT (id) DO NOTHING',
  delivered: 'UPDATE webhook_outbox SET delivered_at = $2, last_error = NULL WHERE id IN (SELECT value FROM json_each($1))',
  retry: 'UPDATE webhook_outbox SET next_at = $2, last_error = $3 WHERE id = $1 AND delivered_at IS NULL',
  failed: 'UPDATE webhook_outbox SET failed_at = $2, last_error = $3 WHERE id = $1 AND delivered_at IS NULL',
  waiting: 'SELECT count(*) AS n FROM webhook_outbox WHERE delivered_at IS NULL AND failed_at IS NULL',
  prune: 'DELETE FROM webhook_outbox WHERE coalesce(delivered_at, failed_at) < $1',
}
/** Positional values as better-sqlite3 binds `$1`, `$2` … (named parameters "1", "2" …). */
const numbered = (...values: unknown[]) => Object.fromEntries(values.map((value, i) => [i + 1, value]))

const outcome = (row: { digest: string; at: number } | undefined, event: EventRecord, inserted: boolean): Recorded => {
  if (!row) throw new Error(`event ${event.id} was neither recorded nor found`)
  if (row.digest !== event.digest) return { outcome: 'conflict' }
  return { outcome: inserted ? 'new' : 'same', at: Number(row.at) }
}

/** Counts per type and priority; both stores group the same way. */
const COUNTS = `SELECT type, priority, count(*) AS recipients, count(DISTINCT item) AS items,
  count(delivered_at) AS delivered, count(read_at) AS read FROM deliveries`

class SqliteEventStore implements EventStore {
  private readonly insert: Database.Statement
  private readonly find: Database.Statement
  private readonly recipients: Database.Statement
  private readonly putType: Database.Statement
  private readonly getType: Database.Statement
  private readonly listTypes: Database.Statement
  private readonly deliveries: Record<'record' | 'delivered' | 'read' | 'of' | 'counts' | 'undelivered' | 'reported', Database.Statement>

  private readonly db: Database.Database
  private readonly contexts: Record<'get' | 'set', Database.Statement>
  private readonly outbox: Record<keyof typeof OUTBOX | 'claim', Database.Statement>

  constructor(db: Database.Database) {
    db.exec(TABLES)
    this.db = db
    this.outbox = {
      ...(Object.fromEntries(Object.entries(OUTBOX).map(([name, text]) => [name, db.prepare(text)])) as Record<keyof typeof OUTBOX, Database.Statement>),
      claim: db.prepare(`UPDATE webhook_outbox SET next_at = $2, attempts = attempts + 1 WHERE id IN
        (SELECT id FROM webhook_outbox WHERE delivered_at IS NULL AND failed_at IS NULL AND next_at <= $1 ORDER BY next_at LIMIT $3)
        RETURNING id, event, body, attempts`),
    }
    this.contexts = {
      get: db.prepare('SELECT school, at FROM school_contexts WHERE user_id = ?'),
      set: db.prepare('INSERT INTO school_contexts (user_id, school, at) VALUES (?, ?, ?) ON CONFLICT (user_id) DO UPDATE SET school = excluded.school, at = excluded.at'),
    }
    this.putType = db.prepare('INSERT INTO event_types (school, type, definition, updated_at) VALUES (?, ?, ?, ?) ON CONFLICT (school, type) DO UPDATE SET definition = excluded.definition, updated_at = excluded.updated_at')
    this.getType = db.prepare('SELECT type, definition, updated_at FROM event_types WHERE school = ? AND type = ?')
    this.listTypes = db.prepare('SELECT type, definition, updated_at FROM event_types WHERE school = ? ORDER BY type')
    const field = (name: string) => `json_extract(value, '$.${name}')`
    this.deliveries = {
      record: db.prepare(`INSERT INTO deliveries (school, user_id, item, type, priority, title, at)
        SELECT ${['school', 'user', 'item', 'type', 'priority', 'title', 'at'].map(field).join(', ')} FROM json_each(?) WHERE true ON CONFLICT DO NOTHING`),
      delivered: db.prepare('UPDATE deliveries SET delivered_at = ? WHERE school = ? AND user_id = ? AND delivered_at IS NULL'),
      read: db.prepare(`UPDATE deliveries SET read_at = coalesce(read_at, ?), delivered_at = coalesce(delivered_at, ?)
        WHERE school = ? AND user_id = ? AND item IN (SELECT value FROM json_each(?))`),
      of: db.prepare(`SELECT school, user_id AS user, delivered_at AS deliveredAt, read_at AS readAt FROM deliveries
        WHERE item = ? AND (school IN (SELECT value FROM json_each(?)) OR ? = 1) ORDER BY school, user_id`),
      counts: db.prepare(`${COUNTS} WHERE school = ? AND at >= ? GROUP BY type, priority ORDER BY type, priority`),
      undelivered: db.prepare(`SELECT school, item, user_id AS user, type, priority, title, at FROM deliveries
        WHERE delivered_at IS NULL AND reported = 0 AND at <= ? AND priority IN (SELECT value FROM json_each(?)) ORDER BY at LIMIT ?`),
      reported: db.prepare(`UPDATE deliveries SET reported = 1 WHERE (school, user_id, item) IN
        (SELECT json_extract(value, '$.school'), json_extract(value, '$.user'), json_extract(value, '$.item') FROM json_each(?))`),
    }
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

  async recordDeliveries(rows: DeliveryRow[]): Promise<void> {
    if (rows.length) this.deliveries.record.run(JSON.stringify(rows))
  }

  async markDelivered(school: string, user: string, at: number): Promise<void> {
    this.deliveries.delivered.run(at, school, user)
  }

  async markRead(school: string, user: string, items: string[], at: number): Promise<void> {
    if (items.length) this.deliveries.read.run(at, at, school, user, JSON.stringify(items))
  }

  async deliveriesOf(item: string, schools: string[]): Promise<DeliveryState[]> {
    return this.deliveries.of.all(item, JSON.stringify(schools), schools.includes('*') ? 1 : 0) as DeliveryState[]
  }

  async deliveryCounts(school: string, since: number): Promise<DeliveryCounts[]> {
    return this.deliveries.counts.all(school, since) as DeliveryCounts[]
  }

  async undelivered(before: number, priorities: readonly string[], limit: number): Promise<DeliveryRow[]> {
    return this.deliveries.undelivered.all(before, JSON.stringify(priorities), limit) as DeliveryRow[]
  }

  async markReported(rows: Array<Pick<DeliveryRow, 'school' | 'item' | 'user'>>): Promise<void> {
    if (rows.length) this.deliveries.reported.run(JSON.stringify(rows))
  }

  async switchSchool(user: string, school: string, at: number): Promise<string | undefined> {
    return this.db.transaction(() => {
      const before = this.contexts.get.get(user) as { school: string } | undefined
      this.contexts.set.run(user, school, at)
      return before?.school
    })()
  }

  async currentSchool(user: string): Promise<{ school: string; at: number } | undefined> {
    const row = this.contexts.get.get(user) as { school: string; at: number } | undefined
    return row && { school: row.school, at: Number(row.at) }
  }

  async enqueueWebhook(row: { id: string; event: string; body: string }, at: number): Promise<boolean> {
    return this.outbox.enqueue.run(numbered(row.id, row.event, row.body, at)).changes === 1
  }

  async claimWebhooks(now: number, leaseUntil: number, limit: number): Promise<OutboxRow[]> {
    return this.outbox.claim.all(numbered(now, leaseUntil, limit)) as OutboxRow[]
  }

  async webhooksDelivered(ids: string[], at: number): Promise<void> {
    if (ids.length) this.outbox.delivered.run(numbered(JSON.stringify(ids), at))
  }

  async webhookRetry(id: string, nextAt: number, error: string): Promise<void> {
    this.outbox.retry.run(numbered(id, nextAt, error))
  }

  async webhookFailed(id: string, at: number, error: string): Promise<void> {
    this.outbox.failed.run(numbered(id, at, error))
  }

  async webhooksWaiting(): Promise<number> {
    return Number((this.outbox.waiting.get() as { n: number }).n)
  }

  async pruneWebhooks(before: number): Promise<number> {
    return this.outbox.prune.run(numbered(before)).changes
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

  async recordDeliveries(rows: DeliveryRow[]): Promise<void> {
    if (!rows.length) return
    await this.query(
      `INSERT INTO deliveries (school, user_id, item, type, priority, title, at)
       SELECT school, "user", item, type, priority, title, at FROM jsonb_to_recordset($1::jsonb)
         AS r(school TEXT, "user" TEXT, item TEXT, type TEXT, priority TEXT, title TEXT, at BIGINT)
       ON CONFLICT DO NOTHING`,
      [JSON.stringify(rows)],
    )
  }

  async markDelivered(school: string, user: string, at: number): Promise<void> {
    await this.query('UPDATE deliveries SET delivered_at = $1 WHERE school = $2 AND user_id = $3 AND delivered_at IS NULL', [at, school, user])
  }

  async markRead(school: string, user: string, items: string[], at: number): Promise<void> {
    if (!items.length) return
    await this.query('UPDATE deliveries SET read_at = coalesce(read_at, $1), delivered_at = coalesce(delivered_at, $1) WHERE school = $2 AND user_id = $3 AND item = ANY($4)', [at, school, user, items])
  }

  async deliveriesOf(item: string, schools: string[]): Promise<DeliveryState[]> {
    const { rows } = await this.query<DeliveryState>(
      'SELECT school, user_id AS "user", delivered_at AS "deliveredAt", read_at AS "readAt" FROM deliveries WHERE item = $1 AND (school = ANY($2) OR $3) ORDER BY school, user_id',
      [item, schools, schools.includes('*')],
    )
    return rows
  }

  async deliveryCounts(school: string, since: number): Promise<DeliveryCounts[]> {
    const { rows } = await this.query<DeliveryCounts>(`${COUNTS} WHERE school = $1 AND at >= $2 GROUP BY type, priority ORDER BY type, priority`, [school, since])
    return rows.map((r) => ({ ...r, recipients: Number(r.recipients), items: Number(r.items), delivered: Number(r.delivered), read: Number(r.read) }))
  }

  async undelivered(before: number, priorities: readonly string[], limit: number): Promise<DeliveryRow[]> {
    const { rows } = await this.query<DeliveryRow>(
      `SELECT school, item, user_id AS "user", type, priority, title, at FROM deliveries
       WHERE delivered_at IS NULL AND reported = 0 AND at <= $1 AND priority = ANY($2) ORDER BY at LIMIT $3`,
      [before, priorities, limit],
    )
    return rows
  }

  async markReported(rows: Array<Pick<DeliveryRow, 'school' | 'item' | 'user'>>): Promise<void> {
    if (!rows.length) return
    await this.query(
      `UPDATE deliveries d SET reported = 1 FROM jsonb_to_recordset($1::jsonb) AS r(school TEXT, "user" TEXT, item TEXT)
       WHERE d.school = r.school AND d.user_id = r."user" AND d.item = r.item`,
      [JSON.stringify(rows)],
    )
  }

  async switchSchool(user: string, school: string, at: number): Promise<string | undefined> {
    // The row as it was, read by the same statement that replaces it.
    const { rows } = await this.query<{ before: string | null }>(
      `WITH old AS (SELECT school FROM school_contexts WHERE user_id = $1 FOR UPDATE),
       upsert AS (INSERT INTO school_contexts (user_id, school, at) VALUES ($1, $2, $3) ON CONFLICT (user_id) DO UPDATE SET school = excluded.school, at = excluded.at)
       SELECT (SELECT school FROM old) AS before`,
      [user, school, at],
    )
    return rows[0]?.before ?? undefined
  }

  async currentSchool(user: string): Promise<{ school: string; at: number } | undefined> {
    const { rows } = await this.query<{ school: string; at: number }>('SELECT school, at FROM school_contexts WHERE user_id = $1', [user])
    return rows[0] && { school: rows[0].school, at: Number(rows[0].at) }
  }

  async enqueueWebhook(row: { id: string; event: string; body: string }, at: number): Promise<boolean> {
    return (await this.query(OUTBOX.enqueue, [row.id, row.event, row.body, at])).rowCount === 1
  }

  async claimWebhooks(now: number, leaseUntil: number, limit: number): Promise<OutboxRow[]> {
    // SKIP LOCKED: instances sweeping at once claim different rows.
    const { rows } = await this.query<OutboxRow>(
      `UPDATE webhook_outbox SET next_at = $2, attempts = attempts + 1 WHERE id IN
        (SELECT id FROM webhook_outbox WHERE delivered_at IS NULL AND failed_at IS NULL AND next_at <= $1 ORDER BY next_at LIMIT $3 FOR UPDATE SKIP LOCKED)
       RETURNING id, event, body, attempts`,
      [now, leaseUntil, limit],
    )
    return rows
  }

  async webhooksDelivered(ids: string[], at: number): Promise<void> {
    if (ids.length) await this.query('UPDATE webhook_outbox SET delivered_at = $2, last_error = NULL WHERE id = ANY($1)', [ids, at])
  }

  async webhookRetry(id: string, nextAt: number, error: string): Promise<void> {
    await this.query(OUTBOX.retry, [id, nextAt, error])
  }

  async webhookFailed(id: string, at: number, error: string): Promise<void> {
    await this.query(OUTBOX.failed, [id, at, error])
  }

  async webhooksWaiting(): Promise<number> {
    const { rows } = await this.query<{ n: string }>(OUTBOX.waiting, [])
    return Number(rows[0].n)
  }

  async pruneWebhooks(before: number): Promise<number> {
    return (await this.query(OUTBOX.prune, [before])).rowCount ?? 0
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
