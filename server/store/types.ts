// The storage contract shared by the SQLite and PostgreSQL stores: one narrow interface per
// concern (the journal, its quarantine, client-id owners, rosters, claims, files, bus trails,
// heartbeats), so a consumer names only what it uses; `Store` composes them for wiring.
import type { Fix } from '../../docs-model/surfaces/bus/surface.ts'

/** One accepted update, as journaled. `seq` orders entries (globally increasing). */
export interface JournalEntry {
  seq: number
  doc: string
  at: number
  user: string | null
  origin: JournalOrigin
  update: Uint8Array
}

/** Who caused a change: a client connection, a server observer, or an admin tool. */
export type JournalOrigin = 'client' | 'server' | 'import' | 'restore'

export interface NewEntry {
  at: number
  user: string | null
  origin: JournalOrigin
  update: Uint8Array
}

/** A run of a document's consecutive readable entries (`seqs`, in order) to be replaced by one that holds them all (`Y.mergeUpdates`). */
export interface EntryMerge {
  seqs: number[]
  entry: NewEntry
}

/** The state of a document after applying every entry up to and including `seq`. */
export interface Snapshot {
  doc: string
  seq: number
  at: number
  state: Uint8Array
}

/** A journal entry the loader could not read, set aside: kept in the journal but left out of every replay. */
export interface QuarantinedEntry {
  doc: string
  seq: number
  /** When the entry was journaled, and by whom. */
  at: number
  user: string | null
  origin: JournalOrigin
  bytes: number
  /** Why it could not be read, and when it was set aside. */
  reason: string
  quarantinedAt: number
}

/** A snapshot without its state, for listings. */
export interface SnapshotInfo {
  doc: string
  seq: number
  at: number
  bytes: number
}

export interface DocumentInfo {
  name: string
  school: string
  surface: string
  updates: number
  bytes: number
  updatedAt: number
}

export interface DocumentFilter {
  school?: string
  surface?: string
}

export interface RosterMember {
  id: string
  name: string
  role: string
  classes?: string[]
  children?: string[]
  buses?: string[]
}

export interface StoredFile {
  id: string
  school: string
  name: string
  type: string
  size: number
  at: number
  by: string
  bytes: Uint8Array
}

/** A recorded bus fix: the model's fix, as the bus observer parsed it. */
export type TrailPoint = Fix

/** A running server's heartbeat row (see heartbeat.ts). */
export interface ServerBeat {
  /** Random, one per server process. */
  id: string
  /** INSTANCE_ID. */
  instance: string
  /** Where it answers, e.g. http://localhost:8400. */
  address: string
  host: string
  pid: number
  startedAt: number
  /** How often it refreshes the row. */
  intervalMs: number
  /** Its live figures at the last refresh (servers that report them). */
  figures?: ServerFigures
}

/** What a running server reports with its heartbeat, for the cluster's status. */
export interface ServerFigures {
  connections: number
  documents: number
  messagesPerSec: number
}

/** The documents' history: the journal of accepted updates, its snapshots, and the listing of documents. */
export interface JournalStore {
  readonly kind: 'sqlite' | 'postgres'
  /** Appends one entry and returns its sequence number. Resolves only once it is durable. */
  append(doc: string, entry: NewEntry): Promise<number>
  /**
   * Appends one entry as part of a group commit: resolves once it is durable, maybe before it has
   * its sequence number (every later read of this store sees it). Rejects when it could not be
   * made durable: then it is not in the journal. The path of every update a server journals.
   */
  record(doc: string, entry: NewEntry): Promise<void>
  /** The newest snapshot, or the newest taken at or before `at`. */
  latestSnapshot(doc: string, at?: number): Promise<Snapshot | undefined>
  /** Entries after `seq` in order, optionally only those at or before `until`. Quarantined entries are left out (as in every read of entries). */
  entriesAfter(doc: string, seq: number, until?: number): Promise<JournalEntry[]>
  countAfter(doc: string, seq: number): Promise<number>
  writeSnapshot(snapshot: Snapshot): Promise<void>
  listDocuments(filter?: DocumentFilter): Promise<DocumentInfo[]>
  /** Up to `limit` entries after `afterSeq`, oldest first, with no time bound: pages through a whole journal (quarantined entries left out). */
  entriesPage(doc: string, afterSeq: number, limit: number): Promise<JournalEntry[]>
  /** Every snapshot of a document, oldest first, without its state. */
  listSnapshots(doc: string): Promise<SnapshotInfo[]>
  /** The snapshot written exactly at `seq`, with its state. */
  readSnapshot(doc: string, seq: number): Promise<Snapshot | undefined>
  /**
   * Drops history before the snapshot at `seq` (which must exist): deletes the document's entries
   * with seq <= `seq` and its snapshots with seq < `seq`, in one transaction, and lowers the
   * document's `updates` and `bytes` counters by what was deleted. Returns the entries deleted.
   * Quarantined entries are kept until `dropQuarantined`, so pruning never hides them.
   */
  pruneBefore(doc: string, seq: number): Promise<number>
  /** The sequence number up to which the document's entries were considered for merging (0: none yet). */
  mergedThrough(doc: string): Promise<number>
  /**
   * Replaces each group of entries by its merged entry, stored under the group's last sequence
   * number (compressed where that pays), lowers the document's counters accordingly and records
   * `through`, in one transaction. When an entry of a group is gone or quarantined meanwhile,
   * nothing changes and the call rejects.
   */
  mergeEntries(doc: string, merges: readonly EntryMerge[], through: number): Promise<void>
  /** Deletes the document's snapshots at these sequence numbers (keeping history sparse). */
  deleteSnapshots(doc: string, seqs: readonly number[]): Promise<void>
}

/** Journal entries set aside because they cannot be read (a flag on the journal's rows). */
export interface QuarantineStore {
  /**
   * Sets an unreadable entry aside: it stays in the journal, flagged with `reason`, and reads of
   * entries leave it out from now on. True when this call flagged it (false: already flagged, or no such entry).
   */
  quarantine(doc: string, seq: number, reason: string): Promise<boolean>
  /** Quarantined entries of one document, or of every document, in sequence order. */
  listQuarantined(doc?: string): Promise<QuarantinedEntry[]>
  /**
   * Deletes the quarantined entries of `doc` and appends `record` (the journal's note of the repair),
   * in one transaction. Returns the sequence numbers dropped and the record's; nothing is appended
   * when nothing is quarantined.
   */
  dropQuarantined(doc: string, record: NewEntry): Promise<{ dropped: number[]; seq?: number }>
}

/** What replays need: the journal, and the quarantine to set unreadable entries aside. */
export type HistoryStore = JournalStore & QuarantineStore

/** Who owns each Yjs client id of a document (the guard refuses writes under another user's id). */
export interface ClientOwnerStore {
  /** Owners of Yjs client ids in a document: the user who first wrote under each id, or 'server'. Ids without an owner are absent. */
  clientOwners(doc: string, clients: readonly number[]): Promise<Map<number, string>>
  /**
   * Records `owner` for every id that has none yet; the first writer wins, also across instances
   * sharing the store (INSERT … ON CONFLICT DO NOTHING, then read). Returns each id's owner afterwards.
   */
  claimClients(doc: string, clients: readonly number[], owner: string): Promise<Map<number, string>>
}

export interface RosterStore {
  /** Replaces a school's roster. */
  putRoster(school: string, members: RosterMember[]): Promise<void>
  roster(school: string): Promise<RosterMember[]>
}

/** A claim taken with a lease: the work it carries and how far its owners got (see ClaimStore.takeClaim). */
export interface TakenClaim {
  /** How far the work got (the owner's count, e.g. recipients delivered to); 0 when new. */
  progress: number
  /** The work as the first taker stored it (JSON), so another instance can resume it. */
  work: unknown
}

export interface ClaimStore {
  /**
   * Claims a key once across every instance sharing this store: true for the first caller only.
   * The claim is done at once: for a side effect with nothing to resume (a day's retention run).
   */
  claim(key: string): Promise<boolean>
  /**
   * Takes the claim of `key` for `owner` until `now + leaseMs`, storing `work` when the claim is
   * new. Succeeds when nobody claimed the key, when `owner` holds it (a retry after a lost answer),
   * or when its holder's lease ran out before it was done (a crashed owner: the work is resumed
   * from `progress`). Undefined when the claim is done or another owner's lease still runs.
   */
  takeClaim(key: string, owner: string, leaseMs: number, now: number, work?: unknown): Promise<TakenClaim | undefined>
  /** Extends `owner`'s lease and records its progress; false when it no longer holds the claim (taken over, or done). */
  renewClaim(key: string, owner: string, leaseMs: number, now: number, progress: number): Promise<boolean>
  /** Marks the claim done (never taken again, pruned after the retention period); false when `owner` does not hold it. */
  finishClaim(key: string, owner: string, now: number): Promise<boolean>
  /** Keys of claims not done whose lease ran out before `now`, oldest lease first: work a crashed owner left. */
  abandonedClaims(now: number, limit: number): Promise<string[]>
  /** Deletes claims done before `before`, and leases that ran out before it; returns the claims deleted. */
  pruneClaims(before: number): Promise<number>
  /**
   * Takes or extends the lease `key` for `owner` until `now + ms`: true when `owner` holds it
   * afterwards (it was free, had run out, or was `owner`'s already). Mutual exclusion across instances.
   */
  takeLease(key: string, owner: string, ms: number, now: number): Promise<boolean>
  /** Gives a lease up at once (nothing when `owner` does not hold it). */
  releaseLease(key: string, owner: string): Promise<void>
}

/** Uploaded files. Storing a file whose id is already stored keeps the first copy (a retried upload is harmless). */
export interface FileStore {
  putFile(file: StoredFile): Promise<void>
  getFile(id: string): Promise<StoredFile | undefined>
}

/** Bus trails. A bus has one position per instant: a second point of a bus at the same `at` is ignored. */
export interface TrailStore {
  appendTrail(bus: string, point: TrailPoint): Promise<void>
  /** Points of `bus` (`<school>/<bus>`) at or after `since`, oldest first. */
  trail(bus: string, since: number): Promise<TrailPoint[]>
  /** Deletes trail points older than `before`; returns how many. */
  deleteTrailBefore(before: number): Promise<number>
}

/** Running servers' heartbeat rows (see heartbeat.ts). */
export interface HeartbeatStore {
  /** Stores or refreshes a running server's heartbeat (its time: now, by the store's clock). */
  beat(server: ServerBeat): Promise<void>
  /** Every heartbeat row with its age in milliseconds and when it was refreshed (both by the store's clock); stale ones too. */
  servers(): Promise<Array<ServerBeat & { ageMs: number; seenAt: number }>>
  /** Deletes a heartbeat row (the server stopped). */
  forget(id: string): Promise<void>
}

/** Everything one backend provides, for wiring; consumers depend on the narrow stores above. Heartbeats are optional. */
export interface Store
  extends JournalStore,
    QuarantineStore,
    ClientOwnerStore,
    RosterStore,
    ClaimStore,
    FileStore,
    TrailStore,
    Partial<HeartbeatStore> {
  close(): Promise<void>
}
