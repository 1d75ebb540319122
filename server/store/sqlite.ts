// The embedded store: SQLite in WAL mode. A server's store records updates in an append log
// first (append-log.ts: one write(2), safe from a killed process, before the sender is
// acknowledged) and moves them into SQLite every few milliseconds, many in one transaction;
// every read of the journal moves what is pending first, so readers never miss an entry. Other
// opens (the command line) insert synchronously, each append one transaction. Writes that
// PostgreSQL makes harmless to repeat are as harmless here: a file or trail point stored twice
// keeps its first copy.
import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import Database from 'better-sqlite3'
import { AppendLog, LOG_HEADER_BYTES, type LoggedEntry } from './append-log.ts'
import { pack } from './packing.ts'
import { figuresColumn, nameParts, toBeat, toEntry, toSnapshot, type EntryRow, type ServerRow, type SnapshotRow } from './rows.ts'
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

/** Versioned schema changes; `user_version` records how many have run. */
const MIGRATIONS = [
  `CREATE TABLE documents (
     name TEXT PRIMARY KEY, school TEXT NOT NULL, surface TEXT NOT NULL,
     updates INTEGER NOT NULL DEFAULT 0, bytes INTEGER NOT NULL DEFAULT 0, updated_at INTEGER NOT NULL);
   CREATE INDEX documents_school ON documents (school, surface);
   CREATE TABLE journal (
     seq INTEGER PRIMARY KEY AUTOINCREMENT, doc TEXT NOT NULL, at INTEGER NOT NULL,
     user TEXT, origin TEXT NOT NULL, update_bytes BLOB NOT NULL);
   CREATE INDEX journal_doc ON journal (doc, seq);
   CREATE TABLE snapshots (
     doc TEXT NOT NULL, seq INTEGER NOT NULL, at INTEGER NOT NULL, state BLOB NOT NULL, PRIMARY KEY (doc, seq));`,
  `CREATE TABLE roster (school TEXT NOT NULL, id TEXT NOT NULL, member TEXT NOT NULL, PRIMARY KEY (school, id));
   CREATE TABLE claims (key TEXT PRIMARY KEY, at INTEGER NOT NULL);
   CREATE TABLE files (id TEXT PRIMARY KEY, school TEXT NOT NULL, name TEXT NOT NULL, type TEXT NOT NULL,
     size INTEGER NOT NULL, at INTEGER NOT NULL, by TEXT NOT NULL, bytes BLOB NOT NULL);
   CREATE TABLE trail (bus TEXT NOT NULL, at INTEGER NOT NULL, lat REAL NOT NULL, lng REAL NOT NULL,
     speed REAL NOT NULL, heading REAL NOT NULL);
   CREATE INDEX trail_bus ON trail (bus, at);
   CREATE INDEX trail_at ON trail (at);`,
  // Quarantined entries keep their row; reads leave out rows with a reason.
  `ALTER TABLE journal ADD COLUMN quarantine_reason TEXT;
   ALTER TABLE journal ADD COLUMN quarantined_at INTEGER;
   CREATE INDEX journal_quarantined ON journal (doc, seq) WHERE quarantine_reason IS NOT NULL;
   CREATE TABLE client_owners (doc TEXT NOT NULL, client INTEGER NOT NULL, owner TEXT NOT NULL, at INTEGER NOT NULL,
     PRIMARY KEY (doc, client)) WITHOUT ROWID;`,
  // One point per bus and instant, as in PostgreSQL: a second copy of a point is ignored.
  `DELETE FROM trail WHERE rowid NOT IN (SELECT min(rowid) FROM trail GROUP BY bus, at);
   DROP INDEX trail_bus;
   CREATE UNIQUE INDEX trail_bus ON trail (bus, at);`,
  // How far the append log (append-log.ts) was moved into the journal, written with the moved rows.
  `CREATE TABLE journal_log (id INTEGER PRIMARY KEY CHECK (id = 1), generation INTEGER NOT NULL, moved INTEGER NOT NULL);`,
  // Merged entries and snapshots may be stored compressed (packing.ts); how far merging got.
  `ALTER TABLE journal ADD COLUMN packed INTEGER NOT NULL DEFAULT 0;
   ALTER TABLE snapshots ADD COLUMN packed INTEGER NOT NULL DEFAULT 0;
   ALTER TABLE documents ADD COLUMN merged_seq INTEGER NOT NULL DEFAULT 0;`,
  // Claims with a lease, and leases alone, as in PostgreSQL (see there). Earlier claims were done when taken.
  `ALTER TABLE claims ADD COLUMN owner TEXT;
   ALTER TABLE claims ADD COLUMN done_at INTEGER;
   ALTER TABLE claims ADD COLUMN lease_until INTEGER;
   ALTER TABLE claims ADD COLUMN progress INTEGER NOT NULL DEFAULT 0;
   ALTER TABLE claims ADD COLUMN work TEXT;
   UPDATE claims SET done_at = at;
   CREATE INDEX claims_done ON claims (done_at) WHERE done_at IS NOT NULL;
   CREATE INDEX claims_abandoned ON claims (lease_until) WHERE done_at IS NULL;
   CREATE TABLE leases (key TEXT PRIMARY KEY, owner TEXT NOT NULL, until INTEGER NOT NULL);`,
]

/** Records in the append log wait this long to be moved into SQLite together. */
const MOVE_EVERY_MS = 5
/** The append log is emptied (a new generation) once everything in it was moved and it is this large. */
const LOG_ROTATE_BYTES = 4 * 1024 * 1024

export interface SqliteOptions {
  readonly?: boolean
  /** Record appends in `<file>-log` first and move them in batches (the server's store; one process per file). */
  appendLog?: boolean
  /** Told when moving logged entries into SQLite failed (they stay logged and are moved again shortly). */
  onMoveError?: (error: unknown) => void
}

/**
 * Running servers' heartbeats: ephemeral, so kept out of the versioned migrations; created by any
 * writable open (a server's), and absent from a file no server has opened since.
 */
const SERVERS_TABLE = `CREATE TABLE IF NOT EXISTS servers (
  id TEXT PRIMARY KEY, instance TEXT NOT NULL, address TEXT NOT NULL, host TEXT NOT NULL, pid INTEGER NOT NULL,
  started_at INTEGER NOT NULL, interval_ms INTEGER NOT NULL, seen_at INTEGER NOT NULL)`

/** Heartbeats older than this are deleted by the next beat of any server. */
const FORGET_AFTER_MS = 24 * 3600 * 1000

/** Rows per INSERT when a batch is moved from the log: one statement run per row costs about twice as much per row. */
const INSERT_ROWS = 32
const ENTRY_COLUMNS = 'seq, doc, at, user, origin, update_bytes, packed'
const READABLE = 'quarantine_reason IS NULL'

export class SqliteStore implements Store {
  readonly kind = 'sqlite'
  readonly db: Database.Database
  private readonly statements
  private readonly log?: AppendLog
  /** Logged entries not moved into SQLite yet, in order. */
  private unmoved: LoggedEntry[] = []
  private moveTimer?: NodeJS.Timeout
  private readonly onMoveError?: (error: unknown) => void
  /** What start-up found in the append log: entries moved into SQLite, and bytes of a torn tail dropped. */
  readonly recovered = { entries: 0, tornBytes: 0 }

  constructor(file: string, options: SqliteOptions = {}) {
    if (!options.readonly) mkdirSync(dirname(file), { recursive: true })
    this.db = new Database(file, { readonly: options.readonly === true, fileMustExist: options.readonly === true })
    this.db.pragma('busy_timeout = 5000')
    if (!options.readonly) {
      // A new file gives pages freed by merging and pruning back (incremental_vacuum below);
      // the mode can only be chosen before the first table exists.
      if ((this.db.pragma('user_version', { simple: true }) as number) === 0) this.db.pragma('auto_vacuum = INCREMENTAL')
      this.db.pragma('journal_mode = WAL')
      this.db.pragma('synchronous = NORMAL')
      this.migrate()
      this.db.exec(SERVERS_TABLE)
      const columns = this.db.prepare('SELECT name FROM pragma_table_info(\'servers\')').pluck().all() as string[]
      if (!columns.includes('figures')) this.db.exec('ALTER TABLE servers ADD COLUMN figures TEXT')
    } else if ((this.db.pragma('user_version', { simple: true }) as number) < MIGRATIONS.length) {
      this.db.close()
      throw new Error(`${file} has an older schema: start the server (or run a writing command) once to migrate it`)
    }
    const db = this.db
    this.statements = {
      insert: db.prepare('INSERT INTO journal (doc, at, user, origin, update_bytes) VALUES (?, ?, ?, ?, ?)'),
      insertRows: db.prepare(`INSERT INTO journal (doc, at, user, origin, update_bytes) VALUES ${Array(INSERT_ROWS).fill('(?, ?, ?, ?, ?)').join(', ')}`),
      touch: db.prepare(`INSERT INTO documents (name, school, surface, updates, bytes, updated_at) VALUES (?, ?, ?, ?, ?, ?)
        ON CONFLICT (name) DO UPDATE SET updates = updates + excluded.updates, bytes = bytes + excluded.bytes, updated_at = excluded.updated_at`),
      latest: db.prepare('SELECT doc, seq, at, state, packed FROM snapshots WHERE doc = ? ORDER BY seq DESC LIMIT 1'),
      latestAt: db.prepare('SELECT doc, seq, at, state, packed FROM snapshots WHERE doc = ? AND at <= ? ORDER BY seq DESC LIMIT 1'),
      after: db.prepare(`SELECT ${ENTRY_COLUMNS} FROM journal WHERE doc = ? AND seq > ? AND ${READABLE} ORDER BY seq`),
      afterUntil: db.prepare(`SELECT ${ENTRY_COLUMNS} FROM journal WHERE doc = ? AND seq > ? AND at <= ? AND ${READABLE} ORDER BY seq`),
      count: db.prepare(`SELECT COUNT(*) AS n FROM journal WHERE doc = ? AND seq > ? AND ${READABLE}`),
      snapshot: db.prepare('INSERT OR REPLACE INTO snapshots (doc, seq, at, state, packed) VALUES (?, ?, ?, ?, ?)'),
      logState: db.prepare('SELECT generation, moved FROM journal_log WHERE id = 1'),
      setLogState: db.prepare('INSERT INTO journal_log (id, generation, moved) VALUES (1, ?, ?) ON CONFLICT (id) DO UPDATE SET generation = excluded.generation, moved = excluded.moved'),
    }
    this.onMoveError = options.onMoveError
    if (options.appendLog && !options.readonly) {
      this.log = new AppendLog(`${file}-log`)
      this.recover()
    }
  }

  /** Moves what the append log holds beyond what SQLite records as moved, then starts a new generation. */
  private recover(): void {
    const log = this.log!
    const contents = log.read()
    const state = this.statements.logState.get() as { generation: number; moved: number } | undefined
    const from = state && state.generation === contents.generation ? state.moved : LOG_HEADER_BYTES
    const fresh = contents.entries.filter((e) => e.start >= from)
    this.db.transaction(() => {
      this.insert(fresh)
      this.statements.setLogState.run(contents.generation, contents.end)
    })()
    this.recovered.entries = fresh.length
    this.recovered.tornBytes = contents.size - contents.end
    this.rotate(contents.generation + 1)
  }

  /** Empties the log as `generation`; SQLite learns it after (a crash between: the new file's generation differs, so all of it is read). */
  private rotate(generation: number): void {
    this.log!.reset(generation)
    this.statements.setLogState.run(generation, LOG_HEADER_BYTES)
  }

  /** Moves the logged entries into SQLite in one transaction (nothing when none wait). */
  private settle(): void {
    if (this.unmoved.length === 0) return
    const batch = this.unmoved
    const log = this.log!
    this.db.transaction(() => {
      this.insert(batch)
      this.statements.setLogState.run(log.generation, batch[batch.length - 1].end)
    })()
    this.unmoved = []
    if (log.size > LOG_ROTATE_BYTES) this.rotate(log.generation + 1)
  }

  private scheduleMove(delay = MOVE_EVERY_MS): void {
    if (this.moveTimer) return
    this.moveTimer = setTimeout(() => {
      this.moveTimer = undefined
      try {
        this.settle()
      } catch (error) {
        this.onMoveError?.(error)
        this.scheduleMove(Math.min(1000, delay * 4))
      }
    }, delay)
  }

  /** Inserts entries in order (inside a transaction), each document's counters updated once. Returns the last sequence number. */
  private insert(entries: ReadonlyArray<{ doc: string; entry: NewEntry }>): number {
    const touched = new Map<string, { updates: number; bytes: number; at: number }>()
    let seq = 0
    let i = 0
    // Rows are numbered in the order of VALUES: a statement's last row id is its last entry's.
    for (; i + INSERT_ROWS <= entries.length; i += INSERT_ROWS) {
      const values = entries.slice(i, i + INSERT_ROWS).flatMap(({ doc, entry }) => [doc, entry.at, entry.user, entry.origin, entry.update])
      seq = Number(this.statements.insertRows.run(...values).lastInsertRowid)
    }
    for (; i < entries.length; i++) {
      const { doc, entry } = entries[i]
      seq = Number(this.statements.insert.run(doc, entry.at, entry.user, entry.origin, entry.update).lastInsertRowid)
    }
    for (const { doc, entry } of entries) {
      const counts = touched.get(doc)
      if (counts) {
        counts.updates++
        counts.bytes += entry.update.byteLength
        counts.at = entry.at
      } else touched.set(doc, { updates: 1, bytes: entry.update.byteLength, at: entry.at })
    }
    for (const [doc, { updates, bytes, at }] of touched) {
      const { school, surface } = nameParts(doc)
      this.statements.touch.run(doc, school, surface, updates, bytes, at)
    }
    return seq
  }

  private migrate(): void {
    const version = this.db.pragma('user_version', { simple: true }) as number
    for (let v = version; v < MIGRATIONS.length; v++) {
      this.db.transaction(() => {
        this.db.exec(MIGRATIONS[v])
        this.db.pragma(`user_version = ${v + 1}`)
      })()
    }
  }

  /** Synchronous append, for callers that must finish before the event loop turns. */
  appendSync(doc: string, entry: NewEntry): number {
    this.settle()
    return this.db.transaction(() => this.insert([{ doc, entry }]))()
  }

  async append(doc: string, entry: NewEntry): Promise<number> {
    return this.appendSync(doc, entry)
  }

  async record(doc: string, entry: NewEntry): Promise<void> {
    if (!this.log) {
      this.appendSync(doc, entry)
      return
    }
    const end = this.log.append(doc, entry)
    this.unmoved.push({ doc, entry, end })
    this.scheduleMove()
  }

  async latestSnapshot(doc: string, at?: number): Promise<Snapshot | undefined> {
    const row = (at === undefined ? this.statements.latest.get(doc) : this.statements.latestAt.get(doc, at)) as SnapshotRow | undefined
    return row && toSnapshot(row)
  }

  async entriesAfter(doc: string, seq: number, until?: number): Promise<JournalEntry[]> {
    this.settle()
    const rows = (until === undefined ? this.statements.after.all(doc, seq) : this.statements.afterUntil.all(doc, seq, until)) as EntryRow[]
    return rows.map(toEntry)
  }

  async countAfter(doc: string, seq: number): Promise<number> {
    this.settle()
    return (this.statements.count.get(doc, seq) as { n: number }).n
  }

  async writeSnapshot(s: Snapshot): Promise<void> {
    const { bytes, packed } = pack(s.state)
    this.statements.snapshot.run(s.doc, s.seq, s.at, bytes, packed)
  }

  async listDocuments(filter: DocumentFilter = {}): Promise<DocumentInfo[]> {
    this.settle()
    const rows = this.db
      .prepare(
        `SELECT name, school, surface, updates, bytes, updated_at AS updatedAt FROM documents
         WHERE (@school IS NULL OR school = @school) AND (@surface IS NULL OR surface = @surface) ORDER BY name`,
      )
      .all({ school: filter.school ?? null, surface: filter.surface ?? null }) as DocumentInfo[]
    return rows
  }

  async entriesPage(doc: string, afterSeq: number, limit: number): Promise<JournalEntry[]> {
    this.settle()
    const rows = this.db.prepare(`SELECT ${ENTRY_COLUMNS} FROM journal WHERE doc = ? AND seq > ? AND ${READABLE} ORDER BY seq LIMIT ?`).all(doc, afterSeq, limit) as EntryRow[]
    return rows.map(toEntry)
  }

  async listSnapshots(doc: string): Promise<SnapshotInfo[]> {
    return this.db.prepare('SELECT doc, seq, at, length(state) AS bytes FROM snapshots WHERE doc = ? ORDER BY seq').all(doc) as SnapshotInfo[]
  }

  async readSnapshot(doc: string, seq: number): Promise<Snapshot | undefined> {
    const row = this.db.prepare('SELECT doc, seq, at, state, packed FROM snapshots WHERE doc = ? AND seq = ?').get(doc, seq) as SnapshotRow | undefined
    return row && toSnapshot(row)
  }

  async mergedThrough(doc: string): Promise<number> {
    const row = this.db.prepare('SELECT merged_seq AS seq FROM documents WHERE name = ?').get(doc) as { seq: number } | undefined
    return row?.seq ?? 0
  }

  async mergeEntries(doc: string, merges: readonly EntryMerge[], through: number): Promise<void> {
    this.settle()
    // A group is a run of the document's consecutive readable entries: its range holds no other.
    const range = `doc = ? AND seq BETWEEN ? AND ? AND ${READABLE}`
    const sizeOf = this.db.prepare(`SELECT count(*) AS n, COALESCE(sum(length(update_bytes)), 0) AS bytes FROM journal WHERE ${range}`)
    const remove = this.db.prepare(`DELETE FROM journal WHERE ${range}`)
    const insert = this.db.prepare('INSERT INTO journal (seq, doc, at, user, origin, update_bytes, packed) VALUES (?, ?, ?, ?, ?, ?, ?)')
    this.db.transaction(() => {
      let rows = 0
      let bytes = 0
      for (const { seqs, entry } of merges) {
        const [first, last] = [seqs[0], seqs[seqs.length - 1]]
        const found = sizeOf.get(doc, first, last) as { n: number; bytes: number }
        if (found.n !== seqs.length) throw new Error(`entries ${first}..${last} of ${doc} changed meanwhile (gone, quarantined or merged): not merged`)
        remove.run(doc, first, last)
        const stored = pack(entry.update)
        insert.run(last, doc, entry.at, entry.user, entry.origin, stored.bytes, stored.packed)
        rows += seqs.length - 1
        bytes += stored.bytes.byteLength - found.bytes
      }
      this.db
        .prepare('UPDATE documents SET updates = max(0, updates - ?), bytes = max(0, bytes + ?), merged_seq = max(merged_seq, ?) WHERE name = ?')
        .run(rows, bytes, through, doc)
    })()
    this.db.pragma('incremental_vacuum')
  }

  async deleteSnapshots(doc: string, seqs: readonly number[]): Promise<void> {
    const remove = this.db.prepare('DELETE FROM snapshots WHERE doc = ? AND seq = ?')
    this.db.transaction(() => {
      for (const seq of seqs) remove.run(doc, seq)
    })()
    this.db.pragma('incremental_vacuum')
  }

  async pruneBefore(doc: string, seq: number): Promise<number> {
    this.settle()
    return this.db.transaction(() => {
      if (!this.db.prepare('SELECT 1 FROM snapshots WHERE doc = ? AND seq = ?').get(doc, seq)) {
        throw new Error(`no snapshot of ${doc} at seq ${seq}: write one before pruning`)
      }
      const gone = this.db
        .prepare(`SELECT COUNT(*) AS n, COALESCE(SUM(length(update_bytes)), 0) AS bytes FROM journal WHERE doc = ? AND seq <= ? AND ${READABLE}`)
        .get(doc, seq) as { n: number; bytes: number }
      this.db.prepare(`DELETE FROM journal WHERE doc = ? AND seq <= ? AND ${READABLE}`).run(doc, seq)
      this.db.prepare('DELETE FROM snapshots WHERE doc = ? AND seq < ?').run(doc, seq)
      this.db.prepare('UPDATE documents SET updates = max(0, updates - ?), bytes = max(0, bytes - ?) WHERE name = ?').run(gone.n, gone.bytes, doc)
      return gone.n
    })()
  }

  async quarantine(doc: string, seq: number, reason: string): Promise<boolean> {
    this.settle()
    const flagged = this.db
      .prepare(`UPDATE journal SET quarantine_reason = ?, quarantined_at = ? WHERE doc = ? AND seq = ? AND ${READABLE}`)
      .run(reason, Date.now(), doc, seq)
    return flagged.changes === 1
  }

  async listQuarantined(doc?: string): Promise<QuarantinedEntry[]> {
    this.settle()
    return this.db
      .prepare(
        `SELECT doc, seq, at, user, origin, length(update_bytes) AS bytes, quarantine_reason AS reason, quarantined_at AS quarantinedAt
         FROM journal WHERE quarantine_reason IS NOT NULL AND (@doc IS NULL OR doc = @doc) ORDER BY seq`,
      )
      .all({ doc: doc ?? null }) as QuarantinedEntry[]
  }

  async dropQuarantined(doc: string, record: NewEntry): Promise<{ dropped: number[]; seq?: number }> {
    this.settle()
    return this.db.transaction(() => {
      const gone = this.db
        .prepare('SELECT seq, length(update_bytes) AS bytes FROM journal WHERE doc = ? AND quarantine_reason IS NOT NULL ORDER BY seq')
        .all(doc) as Array<{ seq: number; bytes: number }>
      if (gone.length === 0) return { dropped: [] }
      this.db.prepare('DELETE FROM journal WHERE doc = ? AND quarantine_reason IS NOT NULL').run(doc)
      const bytes = gone.reduce((sum, g) => sum + g.bytes, 0)
      this.db.prepare('UPDATE documents SET updates = max(0, updates - ?), bytes = max(0, bytes - ?) WHERE name = ?').run(gone.length, bytes, doc)
      return { dropped: gone.map((g) => g.seq), seq: this.appendSync(doc, record) }
    })()
  }

  async clientOwners(doc: string, clients: readonly number[]): Promise<Map<number, string>> {
    if (clients.length === 0) return new Map()
    const rows = this.db
      .prepare('SELECT client, owner FROM client_owners WHERE doc = ? AND client IN (SELECT value FROM json_each(?))')
      .all(doc, JSON.stringify(clients)) as Array<{ client: number; owner: string }>
    return new Map(rows.map((r) => [r.client, r.owner]))
  }

  async claimClients(doc: string, clients: readonly number[], owner: string): Promise<Map<number, string>> {
    if (clients.length === 0) return new Map()
    const insert = this.db.prepare('INSERT OR IGNORE INTO client_owners (doc, client, owner, at) VALUES (?, ?, ?, ?)')
    const at = Date.now()
    // One write transaction: another process on the same file claims before or after, never between.
    this.db.transaction(() => {
      for (const client of clients) insert.run(doc, client, owner, at)
    })()
    return this.clientOwners(doc, clients)
  }

  async putRoster(school: string, members: RosterMember[]): Promise<void> {
    const insert = this.db.prepare('INSERT INTO roster (school, id, member) VALUES (?, ?, ?)')
    this.db.transaction(() => {
      this.db.prepare('DELETE FROM roster WHERE school = ?').run(school)
      for (const member of members) insert.run(school, member.id, JSON.stringify(member))
    })()
  }

  async roster(school: string): Promise<RosterMember[]> {
    const rows = this.db.prepare('SELECT member FROM roster WHERE school = ? ORDER BY id').all(school) as Array<{ member: string }>
    return rows.map((r) => JSON.parse(r.member))
  }

  async claim(key: string): Promise<boolean> {
    const now = Date.now()
    return this.db.prepare('INSERT OR IGNORE INTO claims (key, at, done_at) VALUES (?, ?, ?)').run(key, now, now).changes === 1
  }

  async takeClaim(key: string, owner: string, leaseMs: number, now: number, work?: unknown): Promise<TakenClaim | undefined> {
    const row = this.db
      .prepare(
        `INSERT INTO claims (key, at, owner, lease_until, progress, work) VALUES (?, ?, ?, ?, 0, ?)
         ON CONFLICT (key) DO UPDATE SET owner = excluded.owner, lease_until = excluded.lease_until
           WHERE claims.done_at IS NULL AND (claims.owner = excluded.owner OR claims.lease_until < excluded.at)
         RETURNING progress, work`,
      )
      .get(key, now, owner, now + leaseMs, work === undefined ? null : JSON.stringify(work)) as { progress: number; work: string | null } | undefined
    return row && { progress: row.progress, work: row.work === null ? undefined : JSON.parse(row.work) }
  }

  async renewClaim(key: string, owner: string, leaseMs: number, now: number, progress: number): Promise<boolean> {
    return this.db.prepare('UPDATE claims SET lease_until = ?, progress = ? WHERE key = ? AND owner = ? AND done_at IS NULL').run(now + leaseMs, progress, key, owner).changes === 1
  }

  async finishClaim(key: string, owner: string, now: number): Promise<boolean> {
    return this.db.prepare('UPDATE claims SET done_at = COALESCE(done_at, ?), lease_until = NULL, work = NULL WHERE key = ? AND owner = ?').run(now, key, owner).changes === 1
  }

  async abandonedClaims(now: number, limit: number): Promise<string[]> {
    return this.db.prepare('SELECT key FROM claims WHERE done_at IS NULL AND lease_until < ? ORDER BY lease_until LIMIT ?').pluck().all(now, limit) as string[]
  }

  async pruneClaims(before: number): Promise<number> {
    this.db.prepare('DELETE FROM leases WHERE until < ?').run(before)
    return this.db.prepare('DELETE FROM claims WHERE done_at < ?').run(before).changes
  }

  async takeLease(key: string, owner: string, ms: number, now: number): Promise<boolean> {
    return (
      this.db
        .prepare(
          `INSERT INTO leases (key, owner, until) VALUES (?, ?, ?)
           ON CONFLICT (key) DO UPDATE SET owner = excluded.owner, until = excluded.until WHERE leases.owner = excluded.owner OR leases.until < ?`,
        )
        .run(key, owner, now + ms, now).changes === 1
    )
  }

  async releaseLease(key: string, owner: string): Promise<void> {
    this.db.prepare('DELETE FROM leases WHERE key = ? AND owner = ?').run(key, owner)
  }

  async putFile(f: StoredFile): Promise<void> {
    this.db
      .prepare('INSERT OR IGNORE INTO files (id, school, name, type, size, at, by, bytes) VALUES (?, ?, ?, ?, ?, ?, ?, ?)')
      .run(f.id, f.school, f.name, f.type, f.size, f.at, f.by, f.bytes)
  }

  async getFile(id: string): Promise<StoredFile | undefined> {
    const row = this.db.prepare('SELECT * FROM files WHERE id = ?').get(id) as (Omit<StoredFile, 'bytes'> & { bytes: Buffer }) | undefined
    return row && { ...row, bytes: new Uint8Array(row.bytes) }
  }

  async appendTrail(bus: string, p: TrailPoint): Promise<void> {
    this.db.prepare('INSERT OR IGNORE INTO trail (bus, at, lat, lng, speed, heading) VALUES (?, ?, ?, ?, ?, ?)').run(bus, p.at, p.lat, p.lng, p.speed, p.heading)
  }

  async trail(bus: string, since: number): Promise<TrailPoint[]> {
    return this.db.prepare('SELECT lat, lng, speed, heading, at FROM trail WHERE bus = ? AND at >= ? ORDER BY at').all(bus, since) as TrailPoint[]
  }

  async deleteTrailBefore(before: number): Promise<number> {
    return this.db.prepare('DELETE FROM trail WHERE at < ?').run(before).changes
  }

  async beat(server: ServerBeat): Promise<void> {
    const now = Date.now()
    this.db.transaction(() => {
      this.db
        .prepare(
          `INSERT INTO servers (id, instance, address, host, pid, started_at, interval_ms, seen_at, figures) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT (id) DO UPDATE SET address = excluded.address, interval_ms = excluded.interval_ms, seen_at = excluded.seen_at, figures = excluded.figures`,
        )
        .run(server.id, server.instance, server.address, server.host, server.pid, server.startedAt, server.intervalMs, now, figuresColumn(server))
      this.db.prepare('DELETE FROM servers WHERE seen_at < ?').run(now - FORGET_AFTER_MS)
    })()
  }

  async servers(): Promise<Array<ServerBeat & { ageMs: number; seenAt: number }>> {
    let rows: Array<ServerRow & { seenAt: number }>
    try {
      rows = this.db
        .prepare('SELECT id, instance, address, host, pid, started_at AS startedAt, interval_ms AS intervalMs, figures, seen_at AS seenAt FROM servers')
        .all() as Array<ServerRow & { seenAt: number }>
    } catch (error) {
      // A read-only open of a file no server has opened since heartbeats exist.
      if (/no such table/.test((error as Error).message)) return []
      throw error
    }
    const now = Date.now()
    return rows.map(({ seenAt, ...row }) => ({ ...toBeat(row), ageMs: now - seenAt, seenAt }))
  }

  async forget(id: string): Promise<void> {
    this.db.prepare('DELETE FROM servers WHERE id = ?').run(id)
  }

  async close(): Promise<void> {
    clearTimeout(this.moveTimer)
    if (this.db.open) {
      if (this.log) {
        this.settle()
        this.rotate(this.log.generation + 1)
        this.log.close()
      }
      this.db.close()
    }
  }
}
