// The storage contract shared by the SQLite and PostgreSQL stores.

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

/** The state of a document after applying every entry up to and including `seq`. */
export interface Snapshot {
  doc: string
  seq: number
  at: number
  state: Uint8Array
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

export interface TrailPoint {
  lat: number
  lng: number
  speed: number
  heading: number
  at: number
}

export interface Store {
  readonly kind: 'sqlite' | 'postgres'
  /** Appends one entry and returns its sequence number. Resolves only once it is durable. */
  append(doc: string, entry: NewEntry): Promise<number>
  /** The newest snapshot, or the newest taken at or before `at`. */
  latestSnapshot(doc: string, at?: number): Promise<Snapshot | undefined>
  /** Entries after `seq` in order, optionally only those at or before `until`. */
  entriesAfter(doc: string, seq: number, until?: number): Promise<JournalEntry[]>
  countAfter(doc: string, seq: number): Promise<number>
  writeSnapshot(snapshot: Snapshot): Promise<void>
  listDocuments(filter?: DocumentFilter): Promise<DocumentInfo[]>
  /** Up to `limit` entries after `afterSeq`, oldest first, with no time bound: pages through a whole journal. */
  entriesPage(doc: string, afterSeq: number, limit: number): Promise<JournalEntry[]>
  /** Every snapshot of a document, oldest first, without its state. */
  listSnapshots(doc: string): Promise<SnapshotInfo[]>
  /** The snapshot written exactly at `seq`, with its state. */
  readSnapshot(doc: string, seq: number): Promise<Snapshot | undefined>
  /**
   * Drops history before the snapshot at `seq` (which must exist): deletes the document's entries
   * with seq <= `seq` and its snapshots with seq < `seq`, in one transaction, and lowers the
   * document's `updates` and `bytes` counters by what was deleted. Returns the entries deleted.
   */
  pruneBefore(doc: string, seq: number): Promise<number>

  /** Replaces a school's roster. */
  putRoster(school: string, members: RosterMember[]): Promise<void>
  roster(school: string): Promise<RosterMember[]>

  /**
   * Claims a key once across every instance sharing this store: true for the first caller only.
   * Side effects outside documents (inbox fan-out, escalations, webhooks) claim before acting.
   */
  claim(key: string): Promise<boolean>

  putFile(file: StoredFile): Promise<void>
  getFile(id: string): Promise<StoredFile | undefined>

  appendTrail(bus: string, point: TrailPoint): Promise<void>
  /** Points of `bus` (`<school>/<bus>`) at or after `since`, oldest first. */
  trail(bus: string, since: number): Promise<TrailPoint[]>
  /** Deletes trail points older than `before`; returns how many. */
  deleteTrailBefore(before: number): Promise<number>

  close(): Promise<void>
}
