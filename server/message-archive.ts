// The message archive: a conversation (chat, dm, group) keeps its newest messages in the document
// (KEPT_MESSAGES in docs-model/surfaces/chat/state.ts) and older ones here, one narrow table in the
// store, created on first use and shared by every instance, read page by page through
// GET /api/v1/docs/<name>/messages. A message is stored here before it leaves the document, and
// storing it again changes nothing (rows are keyed by a digest of the whole message: two messages
// that share a client-chosen id are both kept), so no message is lost between the two or duplicated.
import { createHash } from 'node:crypto'
import type Database from 'better-sqlite3'
import type pg from 'pg'
import type { ChatMessage } from '../docs-model/surfaces/chat/surface.ts'
import type { Store } from './store/types.ts'

const TABLE = `CREATE TABLE IF NOT EXISTS message_archive (
  doc TEXT NOT NULL, digest TEXT NOT NULL, id TEXT NOT NULL, pos BIGINT NOT NULL, at BIGINT NOT NULL, message TEXT NOT NULL,
  PRIMARY KEY (doc, digest))`
const INDEX = 'CREATE INDEX IF NOT EXISTS message_archive_pos ON message_archive (doc, pos)'

/** An archived message and its place in the conversation (older messages have lower places). */
export interface ArchivedMessage {
  pos: number
  message: ChatMessage
}

interface ArchiveTable {
  /** Appends messages after the archive's newest (oldest first); ones already archived are skipped. */
  append(doc: string, messages: ChatMessage[], at: (m: ChatMessage) => number): Promise<void>
  /** Up to `limit` messages before place `beforePos` (all when undefined), newest first. */
  page(doc: string, beforePos: number | undefined, limit: number): Promise<ArchivedMessage[]>
  posOf(doc: string, id: string): Promise<number | undefined>
  /** Deletes archived messages older than `cutoff` (retention); returns how many. */
  deleteBefore(cutoff: number): Promise<number>
}

type Row = { pos: number | string; message: string }
const toArchived = (row: Row): ArchivedMessage => ({ pos: Number(row.pos), message: JSON.parse(row.message) })
const END = Number.MAX_SAFE_INTEGER
const digestOf = (json: string): string => createHash('sha256').update(json).digest('base64url')

function sqliteTable(db: Database.Database): ArchiveTable {
  db.exec(TABLE)
  db.exec(INDEX)
  const next = db.prepare('SELECT COALESCE(MAX(pos), 0) + 1 AS pos FROM message_archive WHERE doc = ?')
  const insert = db.prepare('INSERT INTO message_archive (doc, digest, id, pos, at, message) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (doc, digest) DO NOTHING')
  const page = db.prepare('SELECT pos, message FROM message_archive WHERE doc = ? AND pos < ? ORDER BY pos DESC LIMIT ?')
  const pos = db.prepare('SELECT MAX(pos) AS pos FROM message_archive WHERE doc = ? AND id = ?')
  const prune = db.prepare('DELETE FROM message_archive WHERE at < ?')
  return {
    async append(doc, messages, at) {
      db.transaction(() => {
        let p = (next.get(doc) as { pos: number }).pos
        for (const m of messages) {
          const json = JSON.stringify(m)
          if (insert.run(doc, digestOf(json), m.id, p, at(m), json).changes > 0) p++
        }
      })()
    },
    async page(doc, beforePos, limit) {
      return (page.all(doc, beforePos ?? END, limit) as Row[]).map(toArchived)
    },
    async posOf(doc, id) {
      return (pos.get(doc, id) as { pos: number | null }).pos ?? undefined
    },
    async deleteBefore(cutoff) {
      return prune.run(cutoff).changes
    },
  }
}

function pgTable(pool: pg.Pool): ArchiveTable {
  let created: Promise<unknown> | undefined
  const ready = () =>
    (created ??= pool.query(`${TABLE}; ${INDEX}`).catch((error) => {
      created = undefined
      // Two instances creating the table at once: the loser fails on the catalog, and the table exists.
      if (error.code !== '23505' && error.code !== '42P07') throw error
    }))
  return {
    async append(doc, messages, at) {
      await ready()
      const client = await pool.connect()
      try {
        await client.query('BEGIN')
        // One appender per conversation at a time, across instances.
        await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`message_archive:${doc}`])
        const { rows } = await client.query<{ pos: string }>('SELECT COALESCE(MAX(pos), 0) + 1 AS pos FROM message_archive WHERE doc = $1', [doc])
        let p = Number(rows[0].pos)
        for (const m of messages) {
          const json = JSON.stringify(m)
          const { rowCount } = await client.query(
            'INSERT INTO message_archive (doc, digest, id, pos, at, message) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (doc, digest) DO NOTHING',
            [doc, digestOf(json), m.id, p, at(m), json],
          )
          if (rowCount) p++
        }
        await client.query('COMMIT')
      } catch (error) {
        await client.query('ROLLBACK').catch(() => {})
        throw error
      } finally {
        client.release()
      }
    },
    async page(doc, beforePos, limit) {
      await ready()
      const { rows } = await pool.query<Row>('SELECT pos, message FROM message_archive WHERE doc = $1 AND pos < $2 ORDER BY pos DESC LIMIT $3', [doc, beforePos ?? END, limit])
      return rows.map(toArchived)
    },
    async posOf(doc, id) {
      await ready()
      const { rows } = await pool.query<{ pos: string | null }>('SELECT MAX(pos) AS pos FROM message_archive WHERE doc = $1 AND id = $2', [doc, id])
      return rows[0].pos === null ? undefined : Number(rows[0].pos)
    },
    async deleteBefore(cutoff) {
      await ready()
      return (await pool.query('DELETE FROM message_archive WHERE at < $1', [cutoff])).rowCount ?? 0
    },
  }
}

/** The archive of the store's backend (SQLite or PostgreSQL). */
export function messageArchive(store: Store): ArchiveTable {
  const backend = store as Store & { db?: Database.Database; pool?: pg.Pool }
  return store.kind === 'sqlite' ? sqliteTable(backend.db!) : pgTable(backend.pool!)
}

export type MessageArchive = ArchiveTable
