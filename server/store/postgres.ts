// The shared store: PostgreSQL, used when several instances run. Same behaviour as the SQLite
// store; what differs is written down here:
// - appends go through one server-side function (a single round trip) that first locks the
//   document's row, so the appends of one document commit in the order of their sequence
//   numbers and a snapshot taken at sequence S never hides a later-committing entry below S;
// - an append carries a digest of its bytes, so a retried append (the commit succeeded but the
//   answer was lost) or the same update sent twice for a document is journaled once;
// - every operation is retried on transient failures (connection refused or reset, server
//   restarting, serialization failures) before its error reaches the caller, and an operation
//   that finds every pooled connection busy waits for one (up to busyWaitMs) without spending
//   an attempt; writes are written so that a retry after a lost answer is harmless (claims
//   remember their owner, files and trail points ignore a second copy, as in SQLite).
import { createHash, randomUUID } from 'node:crypto'
import pg from 'pg'
import type { Logger } from '../log.ts'
import { pack } from './packing.ts'
import { bytes, figuresColumn, nameParts, toBeat, toEntry, toSnapshot, type EntryRow, type ServerRow, type SnapshotRow } from './rows.ts'
import type {
  DocumentFilter,
  DocumentInfo,
  EntryMerge,
  JournalEntry,
  NewEntry,
  QuarantinedEntry,
  RosterMember,
  ServerBeat,
  Snapshot,
  SnapshotInfo,
  Store,
  StoredFile,
  TakenClaim,
  TrailPoint,
} from './types.ts'

/** Versioned schema changes, applied in order once each; `homeroom_migrations` records them. */
const MIGRATIONS = [
  `CREATE TABLE documents (
     name TEXT PRIMARY KEY, school TEXT NOT NULL, surface TEXT NOT NULL,
     updates BIGINT NOT NULL DEFAULT 0, bytes BIGINT NOT NULL DEFAULT 0, updated_at BIGINT NOT NULL);
   CREATE INDEX documents_school ON documents (school, surface);
   CREATE TABLE journal (
     seq BIGSERIAL PRIMARY KEY, doc TEXT NOT NULL, at BIGINT NOT NULL, "user" TEXT, origin TEXT NOT NULL,
     update_bytes BYTEA NOT NULL, digest BYTEA NOT NULL);
   CREATE INDEX journal_doc ON journal (doc, seq);
   CREATE UNIQUE INDEX journal_digest ON journal (doc, digest);
   CREATE TABLE snapshots (doc TEXT NOT NULL, seq BIGINT NOT NULL, at BIGINT NOT NULL, state BYTEA NOT NULL, PRIMARY KEY (doc, seq));
   CREATE FUNCTION homeroom_append(p_doc TEXT, p_school TEXT, p_surface TEXT, p_at BIGINT, p_user TEXT, p_origin TEXT, p_update BYTEA, p_digest BYTEA)
   RETURNS BIGINT LANGUAGE plpgsql AS $$
   DECLARE new_seq BIGINT;
   BEGIN
     -- Lock the document's row first: appends of one document then commit in sequence order.
     INSERT INTO documents (name, school, surface, updates, bytes, updated_at) VALUES (p_doc, p_school, p_surface, 0, 0, p_at)
       ON CONFLICT (name) DO UPDATE SET updated_at = documents.updated_at;
     INSERT INTO journal (doc, at, "user", origin, update_bytes, digest) VALUES (p_doc, p_at, p_user, p_origin, p_update, p_digest)
       ON CONFLICT (doc, digest) DO NOTHING RETURNING seq INTO new_seq;
     IF new_seq IS NULL THEN
       SELECT seq INTO new_seq FROM journal WHERE doc = p_doc AND digest = p_digest;
       RETURN new_seq;
     END IF;
     UPDATE documents SET updates = updates + 1, bytes = bytes + octet_length(p_update), updated_at = GREATEST(updated_at, p_at) WHERE name = p_doc;
     RETURN new_seq;
   END $$;`,
  `CREATE TABLE roster (school TEXT NOT NULL, id TEXT NOT NULL, member JSONB NOT NULL, PRIMARY KEY (school, id));
   CREATE TABLE claims (key TEXT PRIMARY KEY, at BIGINT NOT NULL, owner TEXT NOT NULL);
   CREATE TABLE files (id TEXT PRIMARY KEY, school TEXT NOT NULL, name TEXT NOT NULL, type TEXT NOT NULL,
     size BIGINT NOT NULL, at BIGINT NOT NULL, by TEXT NOT NULL, bytes BYTEA NOT NULL);
   CREATE TABLE trail (bus TEXT NOT NULL, at BIGINT NOT NULL, lat DOUBLE PRECISION NOT NULL, lng DOUBLE PRECISION NOT NULL,
     speed DOUBLE PRECISION NOT NULL, heading DOUBLE PRECISION NOT NULL);
   CREATE UNIQUE INDEX trail_bus ON trail (bus, at);
   CREATE INDEX trail_at ON trail (at);`,
  // Quarantined entries keep their row; reads leave out rows with a reason.
  `ALTER TABLE journal ADD COLUMN quarantine_reason TEXT, ADD COLUMN quarantined_at BIGINT;
   CREATE INDEX journal_quarantined ON journal (doc, seq) WHERE quarantine_reason IS NOT NULL;
   CREATE TABLE client_owners (doc TEXT NOT NULL, client BIGINT NOT NULL, owner TEXT NOT NULL, at BIGINT NOT NULL, PRIMARY KEY (doc, client));`,
  // Merged entries and snapshots may be stored compressed (packing.ts); how far merging got.
  `ALTER TABLE journal ADD COLUMN packed SMALLINT NOT NULL DEFAULT 0;
   ALTER TABLE snapshots ADD COLUMN packed SMALLINT NOT NULL DEFAULT 0;
   ALTER TABLE documents ADD COLUMN merged_seq BIGINT NOT NULL DEFAULT 0;`,
  // Claims with a lease: an owner renews it while working and marks the claim done; a claim
  // whose lease ran out undone is resumed by another owner from its progress (ClaimStore).
  // Claims taken before leases existed were done when taken. Leases alone: mutual exclusion.
  `ALTER TABLE claims ADD COLUMN done_at BIGINT, ADD COLUMN lease_until BIGINT, ADD COLUMN progress INTEGER NOT NULL DEFAULT 0, ADD COLUMN work TEXT;
   UPDATE claims SET done_at = at;
   CREATE INDEX claims_done ON claims (done_at) WHERE done_at IS NOT NULL;
   CREATE INDEX claims_abandoned ON claims (lease_until) WHERE done_at IS NULL;
   CREATE TABLE leases (key TEXT PRIMARY KEY, owner TEXT NOT NULL, until BIGINT NOT NULL);`,
]

const READABLE = 'quarantine_reason IS NULL'

/**
 * Running servers' heartbeats: ephemeral, so kept out of the versioned migrations and created on
 * first use. Times come from PostgreSQL's clock, so hosts whose clocks differ still agree on ages.
 */
const SERVERS_TABLE = `CREATE TABLE IF NOT EXISTS homeroom_servers (
  id TEXT PRIMARY KEY, instance TEXT NOT NULL, address TEXT NOT NULL, host TEXT NOT NULL, pid INTEGER NOT NULL,
  started_at BIGINT NOT NULL, interval_ms INTEGER NOT NULL, seen_at BIGINT NOT NULL);
  ALTER TABLE homeroom_servers ADD COLUMN IF NOT EXISTS figures TEXT`
const NOW_MS = '(extract(epoch from clock_timestamp()) * 1000)::bigint'
/** Heartbeats older than this are deleted by the next beat of any server. */
const FORGET_AFTER_MS = 24 * 3600 * 1000

/** Any number; serializes concurrent migrations of instances starting together. */
const MIGRATION_LOCK = 7_400_417

const INT8_OID = 20
/** BIGINT columns (sequence numbers, milliseconds) fit a JS number for the next 280,000 years. */
const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === INT8_OID && format !== 'binary' ? (value: string) => Number(value) : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
}

/** Error codes worth another attempt: the connection broke or the server is (re)starting. */
const TRANSIENT_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENOTFOUND', '57P01', '57P02', '57P03', '53300', '40001', '40P01'])

/**
 * pg-pool's refusal when no pooled connection came free within the connect timeout. It is not a
 * broken connection: every connection is busy (a burst of operations queued behind each other),
 * and the database was not reached, so asking again is always safe. An operation keeps waiting
 * for a connection without spending its attempts, for up to `busyWaitMs`.
 */
const POOL_BUSY = 'timeout exceeded when trying to connect'
const isPoolBusy = (error: unknown): boolean => (error as { message?: string } | undefined)?.message === POOL_BUSY

function isTransient(error: unknown): boolean {
  const e = error as { code?: string; message?: string } | undefined
  if (!e) return false
  if (e.code && (TRANSIENT_CODES.has(e.code) || e.code.startsWith('08'))) return true
  if (isPoolBusy(e)) return true
  return /Connection terminated|connection timeout|Client has encountered a connection error|Query read timeout/i.test(e.message ?? '')
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const digestOf = (update: Uint8Array): Buffer => createHash('sha256').update(update).digest().subarray(0, 16)




export interface PgStoreOptions {
  /** Connections in the pool (PG_POOL_SIZE). */
  poolSize?: number
  log?: Logger
  /** Attempts per operation on transient failures (first try included). */
  attempts?: number
  /** Milliseconds before a connection attempt (or the wait for a free pooled connection) gives up. */
  connectTimeoutMs?: number
  /** Milliseconds an operation may keep waiting for a free pooled connection before that wait counts as a failed attempt. */
  busyWaitMs?: number
}

export class PgStore implements Store {
  readonly kind = 'postgres'
  readonly pool: pg.Pool
  private readonly url: string
  private readonly log?: Logger
  private readonly attempts: number
  private readonly busyWaitMs: number
  private schema?: Promise<void>
  /** Entries recorded in this event-loop turn, committed together (see `record`). */
  private recorded: Array<{ doc: string; entry: NewEntry; resolve: () => void; reject: (error: unknown) => void }> = []
  private serversTable?: Promise<void>

  constructor(url: string, options: PgStoreOptions = {}) {
    this.url = url
    this.log = options.log
    this.attempts = options.attempts ?? 4
    this.busyWaitMs = options.busyWaitMs ?? 30_000
    this.pool = new pg.Pool({
      connectionString: url,
      max: options.poolSize ?? 10,
      // Bounded waits: an unreachable server must turn into a refusal, not a hung client.
      connectionTimeoutMillis: options.connectTimeoutMs ?? 2000,
      query_timeout: 15_000,
      keepAlive: true,
      types,
    })
    // An idle connection that breaks (server restart) emits here; without a listener the process would end.
    this.pool.on('error', (error) => this.log?.warn({ err: error }, 'idle PostgreSQL connection lost; the pool reconnects on demand'))
    // A checked-out connection that breaks between two queries (a transaction, the message
    // archive) emits on the client itself, where the pool listens only while it is idle: the
    // process ended (chaos: PostgreSQL cut). Its next query fails and is retried instead.
    this.pool.on('connect', (client) => client.on('error', (error) => this.log?.warn({ err: error }, 'PostgreSQL connection lost while checked out')))
  }

  /** Creates or migrates the schema once; a failed attempt is retried by the next operation. */
  ready(): Promise<void> {
    this.schema ??= this.migrate().catch((error) => {
      this.schema = undefined
      throw error
    })
    return this.schema
  }

  /** On a connection of its own, without the pool's query timeout: a migration may rewrite a large table. */
  private async migrate(): Promise<void> {
    const client = new pg.Client({ connectionString: this.url, connectionTimeoutMillis: this.pool.options.connectionTimeoutMillis, types })
    client.on('error', (error) => this.log?.warn({ err: error }, 'PostgreSQL connection lost while migrating'))
    try {
      await client.connect()
      await client.query('BEGIN')
      await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK])
      await client.query('CREATE TABLE IF NOT EXISTS homeroom_migrations (version INTEGER PRIMARY KEY, at BIGINT NOT NULL)')
      const { rows } = await client.query<{ version: number | null }>('SELECT max(version) AS version FROM homeroom_migrations')
      for (let v = rows[0].version ?? 0; v < MIGRATIONS.length; v++) {
        await client.query(MIGRATIONS[v])
        await client.query('INSERT INTO homeroom_migrations (version, at) VALUES ($1, $2)', [v + 1, Date.now()])
        this.log?.info({ version: v + 1 }, 'PostgreSQL schema migrated')
      }
      await client.query('COMMIT')
    } catch (error) {
      await client.query('ROLLBACK').catch(() => {})
      throw error
    } finally {
      await client.end().catch(() => {})
    }
  }

  /** Runs `operation` once the schema exists, retrying transient failures with backoff. */
  private async run<T>(what: string, operation: () => Promise<T>): Promise<T> {
    const started = Date.now()
    for (let attempt = 1; ; ) {
      try {
        await this.ready()
        return await operation()
      } catch (error) {
        // The wait for a busy pool was the pause itself, and no attempt reached the database.
        if (isPoolBusy(error) && Date.now() - started < this.busyWaitMs) continue
        if (attempt >= this.attempts || !isTransient(error)) throw error
        this.log?.warn({ err: error, op: what, attempt }, 'PostgreSQL operation failed; retrying')
        await sleep(Math.min(2000, 50 * 4 ** (attempt - 1)))
        attempt++
      }
    }
  }

  private query<R extends pg.QueryResultRow>(what: string, text: string, values: unknown[] = []): Promise<pg.QueryResult<R>> {
    return this.run(what, () => this.pool.query<R>(text, values))
  }

  /** Runs `body` in one transaction on one connection. */
  private transaction<T>(what: string, body: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    return this.run(what, async () => {
      const client = await this.pool.connect()
      try {
        await client.query('BEGIN')
        const result = await body(client)
        await client.query('COMMIT')
        return result
      } catch (error) {
        await client.query('ROLLBACK').catch(() => {})
        throw error
      } finally {
        client.release()
      }
    })
  }

  async append(doc: string, entry: NewEntry): Promise<number> {
    const { school, surface } = nameParts(doc)
    const { rows } = await this.query<{ seq: number }>('append', 'SELECT homeroom_append($1, $2, $3, $4, $5, $6, $7, $8) AS seq', [
      doc,
      school,
      surface,
      entry.at,
      entry.user,
      entry.origin,
      entry.update,
      digestOf(entry.update),
    ])
    return rows[0].seq
  }

  /**
   * Group commit: the entries recorded in one event-loop turn go in one statement (one
   * transaction, one round trip), sorted by document so instances lock documents in one order.
   * All of them commit or none does.
   */
  record(doc: string, entry: NewEntry): Promise<void> {
    return new Promise((resolve, reject) => {
      this.recorded.push({ doc, entry, resolve, reject })
      if (this.recorded.length === 1) setImmediate(() => void this.commitRecorded())
    })
  }

  private async commitRecorded(): Promise<void> {
    const batch = this.recorded
    this.recorded = []
    // Stable: each document's entries keep their order.
    const rows = [...batch].sort((a, b) => (a.doc < b.doc ? -1 : a.doc > b.doc ? 1 : 0))
    const column = <T>(f: (r: (typeof rows)[number]) => T): T[] => rows.map(f)
    try {
      await this.query(
        'append',
        `SELECT homeroom_append(d, s, f, a, u, o, b, g) FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::text[], $7::bytea[], $8::bytea[])
           WITH ORDINALITY AS t(d, s, f, a, u, o, b, g, n) ORDER BY n`,
        [
          column((r) => r.doc),
          column((r) => nameParts(r.doc).school),
          column((r) => nameParts(r.doc).surface),
          column((r) => r.entry.at),
          column((r) => r.entry.user),
          column((r) => r.entry.origin),
          column((r) => Buffer.from(r.entry.update.buffer, r.entry.update.byteOffset, r.entry.update.byteLength)),
          column((r) => digestOf(r.entry.update)),
        ],
      )
      for (const r of batch) r.resolve()
    } catch (error) {
      for (const r of batch) r.reject(error)
    }
  }

  async latestSnapshot(doc: string, at?: number): Promise<Snapshot | undefined> {
    const { rows } = await this.query<SnapshotRow>(
      'snapshot',
      'SELECT doc, seq, at, state, packed FROM snapshots WHERE doc = $1 AND ($2::bigint IS NULL OR at <= $2) ORDER BY seq DESC LIMIT 1',
      [doc, at ?? null],
    )
    return rows[0] && toSnapshot(rows[0])
  }

  async entriesAfter(doc: string, seq: number, until?: number): Promise<JournalEntry[]> {
    const { rows } = await this.query<EntryRow>(
      'entries',
      `SELECT seq, doc, at, "user", origin, update_bytes, packed FROM journal WHERE doc = $1 AND seq > $2 AND ($3::bigint IS NULL OR at <= $3) AND ${READABLE} ORDER BY seq`,
      [doc, seq, until ?? null],
    )
    return rows.map(toEntry)
  }

  async countAfter(doc: string, seq: number): Promise<number> {
    const { rows } = await this.query<{ n: number }>('count', `SELECT count(*) AS n FROM journal WHERE doc = $1 AND seq > $2 AND ${READABLE}`, [doc, seq])
    return rows[0].n
  }

  async writeSnapshot(s: Snapshot): Promise<void> {
    const { bytes: state, packed } = pack(s.state)
    await this.query(
      'snapshot',
      'INSERT INTO snapshots (doc, seq, at, state, packed) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (doc, seq) DO UPDATE SET at = excluded.at, state = excluded.state, packed = excluded.packed',
      [s.doc, s.seq, s.at, state, packed],
    )
  }

  async mergedThrough(doc: string): Promise<number> {
    const { rows } = await this.query<{ seq: number }>('merged', 'SELECT merged_seq AS seq FROM documents WHERE name = $1', [doc])
    return rows[0]?.seq ?? 0
  }

  async mergeEntries(doc: string, merges: readonly EntryMerge[], through: number): Promise<void> {
    await this.transaction('merge', async (client) => {
      // The document's row lock keeps appends of this document out meanwhile, as in pruning.
      await client.query('SELECT 1 FROM documents WHERE name = $1 FOR UPDATE', [doc])
      let rows = 0
      let size = 0
      for (const { seqs, entry } of merges) {
        const gone = await client.query<{ size: number }>(
          `DELETE FROM journal WHERE doc = $1 AND seq = ANY($2::bigint[]) AND ${READABLE} RETURNING octet_length(update_bytes) AS size`,
          [doc, seqs],
        )
        if (gone.rowCount !== seqs.length) throw new Error(`an entry of ${doc} among ${seqs.join(', ')} is gone or quarantined: not merged`)
        const stored = pack(entry.update)
        await client.query('INSERT INTO journal (seq, doc, at, "user", origin, update_bytes, digest, packed) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)', [
          seqs[seqs.length - 1],
          doc,
          entry.at,
          entry.user,
          entry.origin,
          stored.bytes,
          digestOf(entry.update),
          stored.packed,
        ])
        rows += seqs.length - 1
        size += stored.bytes.byteLength - gone.rows.reduce((sum, r) => sum + r.size, 0)
      }
      await client.query('UPDATE documents SET updates = GREATEST(0, updates - $2), bytes = GREATEST(0, bytes + $3), merged_seq = GREATEST(merged_seq, $4) WHERE name = $1', [
        doc,
        rows,
        size,
        through,
      ])
    })
  }

  async deleteSnapshots(doc: string, seqs: readonly number[]): Promise<void> {
    await this.query('snapshots', 'DELETE FROM snapshots WHERE doc = $1 AND seq = ANY($2::bigint[])', [doc, [...seqs]])
  }

  async listDocuments(filter: DocumentFilter = {}): Promise<DocumentInfo[]> {
    const { rows } = await this.query<DocumentInfo>(
      'documents',
      `SELECT name, school, surface, updates, bytes, updated_at AS "updatedAt" FROM documents
       WHERE ($1::text IS NULL OR school = $1) AND ($2::text IS NULL OR surface = $2) ORDER BY name`,
      [filter.school ?? null, filter.surface ?? null],
    )
    return rows
  }

  async entriesPage(doc: string, afterSeq: number, limit: number): Promise<JournalEntry[]> {
    const { rows } = await this.query<EntryRow>(
      'entries',
      `SELECT seq, doc, at, "user", origin, update_bytes, packed FROM journal WHERE doc = $1 AND seq > $2 AND ${READABLE} ORDER BY seq LIMIT $3`,
      [doc, afterSeq, limit],
    )
    return rows.map(toEntry)
  }

  async listSnapshots(doc: string): Promise<SnapshotInfo[]> {
    const { rows } = await this.query<SnapshotInfo>('snapshots', 'SELECT doc, seq, at, octet_length(state) AS bytes FROM snapshots WHERE doc = $1 ORDER BY seq', [doc])
    return rows
  }

  async readSnapshot(doc: string, seq: number): Promise<Snapshot | undefined> {
    const { rows } = await this.query<SnapshotRow>('snapshot', 'SELECT doc, seq, at, state, packed FROM snapshots WHERE doc = $1 AND seq = $2', [doc, seq])
    return rows[0] && toSnapshot(rows[0])
  }

  async pruneBefore(doc: string, seq: number): Promise<number> {
    return this.transaction('prune', async (client) => {
      // The document's row lock keeps appends of this document out while its history shrinks.
      await client.query('SELECT 1 FROM documents WHERE name = $1 FOR UPDATE', [doc])
      const found = await client.query('SELECT 1 FROM snapshots WHERE doc = $1 AND seq = $2', [doc, seq])
      if (found.rowCount === 0) throw new Error(`no snapshot of ${doc} at seq ${seq}: write one before pruning`)
      const { rows } = await client.query<{ n: number; bytes: number }>(
        `WITH gone AS (DELETE FROM journal WHERE doc = $1 AND seq <= $2 AND ${READABLE} RETURNING octet_length(update_bytes) AS size)
         SELECT count(*) AS n, COALESCE(sum(size), 0)::bigint AS bytes FROM gone`,
        [doc, seq],
      )
      await client.query('DELETE FROM snapshots WHERE doc = $1 AND seq < $2', [doc, seq])
      const { n, bytes: size } = rows[0]
      await client.query('UPDATE documents SET updates = GREATEST(0, updates - $2), bytes = GREATEST(0, bytes - $3) WHERE name = $1', [doc, n, size])
      return n
    })
  }

  async quarantine(doc: string, seq: number, reason: string): Promise<boolean> {
    const { rowCount } = await this.query(
      'quarantine',
      `UPDATE journal SET quarantine_reason = $3, quarantined_at = $4 WHERE doc = $1 AND seq = $2 AND ${READABLE}`,
      [doc, seq, reason, Date.now()],
    )
    return rowCount === 1
  }

  async listQuarantined(doc?: string): Promise<QuarantinedEntry[]> {
    const { rows } = await this.query<QuarantinedEntry>(
      'quarantined',
      `SELECT doc, seq, at, "user", origin, octet_length(update_bytes) AS bytes, quarantine_reason AS reason, quarantined_at AS "quarantinedAt"
       FROM journal WHERE quarantine_reason IS NOT NULL AND ($1::text IS NULL OR doc = $1) ORDER BY seq`,
      [doc ?? null],
    )
    return rows
  }

  async dropQuarantined(doc: string, record: NewEntry): Promise<{ dropped: number[]; seq?: number }> {
    const { school, surface } = nameParts(doc)
    return this.transaction('drop quarantined', async (client) => {
      // The document's row lock keeps appends of this document out meanwhile, as in pruning.
      await client.query('SELECT 1 FROM documents WHERE name = $1 FOR UPDATE', [doc])
      const { rows } = await client.query<{ seq: number; size: number }>(
        'DELETE FROM journal WHERE doc = $1 AND quarantine_reason IS NOT NULL RETURNING seq, octet_length(update_bytes) AS size',
        [doc],
      )
      if (rows.length === 0) return { dropped: [] }
      const dropped = rows.map((r) => r.seq).sort((a, b) => a - b)
      const size = rows.reduce((sum, r) => sum + r.size, 0)
      await client.query('UPDATE documents SET updates = GREATEST(0, updates - $2), bytes = GREATEST(0, bytes - $3) WHERE name = $1', [doc, rows.length, size])
      // The digest names what was dropped, so two repairs (with the same empty note) are both journaled.
      const digest = createHash('sha256').update(`repair:${dropped.join(',')}`).update(record.update).digest().subarray(0, 16)
      const appended = await client.query<{ seq: number }>('SELECT homeroom_append($1, $2, $3, $4, $5, $6, $7, $8) AS seq', [
        doc,
        school,
        surface,
        record.at,
        record.user,
        record.origin,
        record.update,
        digest,
      ])
      return { dropped, seq: appended.rows[0].seq }
    })
  }

  async clientOwners(doc: string, clients: readonly number[]): Promise<Map<number, string>> {
    if (clients.length === 0) return new Map()
    const { rows } = await this.query<{ client: number; owner: string }>(
      'client owners',
      'SELECT client, owner FROM client_owners WHERE doc = $1 AND client = ANY($2::bigint[])',
      [doc, clients],
    )
    return new Map(rows.map((r) => [r.client, r.owner]))
  }

  /**
   * Two statements on purpose: a concurrent claim of the same id makes the insert wait for it and
   * then do nothing, and only a new statement (a new snapshot) sees the row that claim committed.
   * A retry after a lost answer finds its own rows.
   */
  async claimClients(doc: string, clients: readonly number[], owner: string): Promise<Map<number, string>> {
    if (clients.length === 0) return new Map()
    // Sorted, so two claims of overlapping ids take their row locks in the same order (no deadlock).
    const sorted = [...new Set(clients)].sort((a, b) => a - b)
    await this.query(
      'claim clients',
      'INSERT INTO client_owners (doc, client, owner, at) SELECT $1, c, $3, $4 FROM unnest($2::bigint[]) AS c ON CONFLICT (doc, client) DO NOTHING',
      [doc, sorted, owner, Date.now()],
    )
    return this.clientOwners(doc, sorted)
  }

  async putRoster(school: string, members: RosterMember[]): Promise<void> {
    await this.transaction('roster', async (client) => {
      await client.query('DELETE FROM roster WHERE school = $1', [school])
      if (members.length === 0) return
      await client.query('INSERT INTO roster (school, id, member) SELECT $1, m->>\'id\', m FROM jsonb_array_elements($2::jsonb) AS m', [
        school,
        JSON.stringify(members),
      ])
    })
  }

  async roster(school: string): Promise<RosterMember[]> {
    const { rows } = await this.query<{ member: RosterMember }>('roster', 'SELECT member FROM roster WHERE school = $1 ORDER BY id', [school])
    return rows.map((r) => r.member)
  }

  /** The claim carries a random owner, so a retry after a lost answer still recognises its own win. */
  async claim(key: string): Promise<boolean> {
    const owner = randomUUID()
    const now = Date.now()
    const { rows } = await this.query<{ won: boolean }>(
      'claim',
      `WITH inserted AS (INSERT INTO claims (key, at, owner, done_at) VALUES ($1, $2, $3, $2) ON CONFLICT (key) DO NOTHING RETURNING 1)
       SELECT EXISTS (SELECT 1 FROM inserted) OR EXISTS (SELECT 1 FROM claims WHERE key = $1 AND owner = $3) AS won`,
      [key, now, owner],
    )
    return rows[0].won
  }

  /** One statement: the row lock makes two takers of an abandoned claim agree on one new owner. */
  async takeClaim(key: string, owner: string, leaseMs: number, now: number, work?: unknown): Promise<TakenClaim | undefined> {
    const { rows } = await this.query<{ progress: number; work: string | null }>(
      'claim',
      `INSERT INTO claims (key, at, owner, lease_until, progress, work) VALUES ($1, $2, $3, $4, 0, $5)
       ON CONFLICT (key) DO UPDATE SET owner = excluded.owner, lease_until = excluded.lease_until
         WHERE claims.done_at IS NULL AND (claims.owner = excluded.owner OR claims.lease_until < $2)
       RETURNING progress, work`,
      [key, now, owner, now + leaseMs, work === undefined ? null : JSON.stringify(work)],
    )
    const row = rows[0]
    return row && { progress: row.progress, work: row.work === null ? undefined : JSON.parse(row.work) }
  }

  async renewClaim(key: string, owner: string, leaseMs: number, now: number, progress: number): Promise<boolean> {
    const { rowCount } = await this.query('claim', 'UPDATE claims SET lease_until = $3, progress = $4 WHERE key = $1 AND owner = $2 AND done_at IS NULL', [key, owner, now + leaseMs, progress])
    return rowCount === 1
  }

  /** A retry after a lost answer finds the claim done by the same owner: still true. */
  async finishClaim(key: string, owner: string, now: number): Promise<boolean> {
    const { rowCount } = await this.query('claim', 'UPDATE claims SET done_at = COALESCE(done_at, $3), lease_until = NULL, work = NULL WHERE key = $1 AND owner = $2', [key, owner, now])
    return rowCount === 1
  }

  async abandonedClaims(now: number, limit: number): Promise<string[]> {
    const { rows } = await this.query<{ key: string }>('claim', 'SELECT key FROM claims WHERE done_at IS NULL AND lease_until < $1 ORDER BY lease_until LIMIT $2', [now, limit])
    return rows.map((r) => r.key)
  }

  async pruneClaims(before: number): Promise<number> {
    await this.query('lease', 'DELETE FROM leases WHERE until < $1', [before])
    const { rowCount } = await this.query('claim', 'DELETE FROM claims WHERE done_at < $1', [before])
    return rowCount ?? 0
  }

  async takeLease(key: string, owner: string, ms: number, now: number): Promise<boolean> {
    const { rowCount } = await this.query(
      'lease',
      `INSERT INTO leases (key, owner, until) VALUES ($1, $2, $3)
       ON CONFLICT (key) DO UPDATE SET owner = excluded.owner, until = excluded.until WHERE leases.owner = excluded.owner OR leases.until < $4`,
      [key, owner, now + ms, now],
    )
    return rowCount === 1
  }

  async releaseLease(key: string, owner: string): Promise<void> {
    await this.query('lease', 'DELETE FROM leases WHERE key = $1 AND owner = $2', [key, owner])
  }

  async putFile(f: StoredFile): Promise<void> {
    await this.query('file', 'INSERT INTO files (id, school, name, type, size, at, by, bytes) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (id) DO NOTHING', [
      f.id,
      f.school,
      f.name,
      f.type,
      f.size,
      f.at,
      f.by,
      f.bytes,
    ])
  }

  async getFile(id: string): Promise<StoredFile | undefined> {
    const { rows } = await this.query<Omit<StoredFile, 'bytes'> & { bytes: Buffer }>('file', 'SELECT id, school, name, type, size, at, by, bytes FROM files WHERE id = $1', [id])
    const row = rows[0]
    return row && { ...row, bytes: bytes(row.bytes) }
  }

  async appendTrail(bus: string, p: TrailPoint): Promise<void> {
    await this.query('trail', 'INSERT INTO trail (bus, at, lat, lng, speed, heading) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (bus, at) DO NOTHING', [bus, p.at, p.lat, p.lng, p.speed, p.heading])
  }

  async trail(bus: string, since: number): Promise<TrailPoint[]> {
    const { rows } = await this.query<TrailPoint>('trail', 'SELECT lat, lng, speed, heading, at FROM trail WHERE bus = $1 AND at >= $2 ORDER BY at', [bus, since])
    return rows
  }

  async deleteTrailBefore(before: number): Promise<number> {
    const { rowCount } = await this.query('trail', 'DELETE FROM trail WHERE at < $1', [before])
    return rowCount ?? 0
  }

  /** Creates the heartbeat table once; two stores creating it at once is harmless. */
  private heartbeatTable(): Promise<void> {
    this.serversTable ??= this.query('servers table', SERVERS_TABLE).then(
      () => undefined,
      (error) => {
        this.serversTable = undefined
        // A concurrent CREATE TABLE IF NOT EXISTS can fail on the catalog's unique index: the table exists.
        if ((error as { code?: string }).code === '23505' || (error as { code?: string }).code === '42P07') return
        throw error
      },
    )
    return this.serversTable
  }

  async beat(server: ServerBeat): Promise<void> {
    await this.heartbeatTable()
    await this.query(
      'heartbeat',
      `INSERT INTO homeroom_servers (id, instance, address, host, pid, started_at, interval_ms, seen_at, figures) VALUES ($1, $2, $3, $4, $5, $6, $7, ${NOW_MS}, $8)
       ON CONFLICT (id) DO UPDATE SET address = excluded.address, interval_ms = excluded.interval_ms, seen_at = excluded.seen_at, figures = excluded.figures`,
      [server.id, server.instance, server.address, server.host, server.pid, server.startedAt, server.intervalMs, figuresColumn(server)],
    )
    await this.query('heartbeat', `DELETE FROM homeroom_servers WHERE seen_at < ${NOW_MS} - $1`, [FORGET_AFTER_MS])
  }

  async servers(): Promise<Array<ServerBeat & { ageMs: number; seenAt: number }>> {
    await this.heartbeatTable()
    const { rows } = await this.query<ServerRow & { ageMs: number; seenAt: number }>(
      'servers',
      `SELECT id, instance, address, host, pid, started_at AS "startedAt", interval_ms AS "intervalMs", figures, seen_at AS "seenAt", ${NOW_MS} - seen_at AS "ageMs" FROM homeroom_servers`,
    )
    return rows.map(toBeat)
  }

  async forget(id: string): Promise<void> {
    await this.heartbeatTable()
    await this.query('heartbeat', 'DELETE FROM homeroom_servers WHERE id = $1', [id])
  }

  async close(): Promise<void> {
    await this.pool.end()
  }
}
