// Retention: bus trail points older than BUS_TRAIL_RETENTION_DAYS are deleted; chat, dm and group
// messages older than CHAT_RETENTION_DAYS are removed as a new change (and from the message archive), and the journal history of
// those documents before the window is replaced by a snapshot at the window start, so the removed
// messages' original entries are gone too (up to one run later when the document had no recent
// snapshot: see truncateHistory). Inbox items older than INBOX_RETENTION_DAYS are removed (urgent
// ones stay; the rule is the inbox family's `expiredItems`). Store claims whose work was done more
// than CLAIMS_RETENTION_DAYS ago are deleted (unfinished ones never: another instance resumes
// them). Other documents (exam records, boards) keep history.
import type * as Y from 'yjs'
import type { Homeroom } from './homeroom.ts'
import { replay } from './history/replay.ts'
import type { Store } from './store/types.ts'
import { messageArchive } from './message-archive.ts'
import { truncateHistory } from './history/prune.ts'
import { SERVER_USER, serverWrite } from './writes.ts'
import type { Identity } from '../docs-model/types.ts'
import { CONVERSATION_FAMILIES, oldMessages, removeOldMessages } from '../docs-model/surfaces/chat/state.ts'
import { expiredItems, removeExpiredItems } from '../docs-model/surfaces/inbox/state.ts'

export const DAY_MS = 86_400_000

export const RETENTION_USER: Identity = { ...SERVER_USER, sub: 'retention', name: 'Retention' }

/** Applies a change to a document: to the live copy in a server, or straight into the store. */
export type ApplyChange = (name: string, change: (doc: Y.Doc) => void) => Promise<void>

export interface RetentionOptions {
  store: Store
  chatDays: number
  busTrailDays: number
  inboxDays: number
  /** Done claims older than this are deleted; left out, claims are kept. */
  claimsDays?: number
  apply: ApplyChange
  now?: number
  onProgress?: (done: number, total: number) => void
}

export interface RetentionReport {
  trailPointsDeleted: number
  documentsChecked: number
  messagesRemoved: number
  /** Messages older than the chat cutoff deleted from the message archive. */
  archivedMessagesRemoved: number
  entriesDropped: number
  inboxItemsRemoved: number
  /** Store claims deleted: done before the claims cutoff. */
  claimsPruned: number
  chatCutoff: string
  trailCutoff: string
  inboxCutoff: string
}

export async function runRetention(options: RetentionOptions): Promise<RetentionReport> {
  const { store } = options
  const now = options.now ?? Date.now()
  const chatCutoff = now - options.chatDays * DAY_MS
  const trailCutoff = now - options.busTrailDays * DAY_MS
  const inboxCutoff = now - options.inboxDays * DAY_MS
  const report: RetentionReport = {
    trailPointsDeleted: await store.deleteTrailBefore(trailCutoff),
    documentsChecked: 0,
    messagesRemoved: 0,
    archivedMessagesRemoved: await messageArchive(store).deleteBefore(chatCutoff),
    entriesDropped: 0,
    inboxItemsRemoved: 0,
    claimsPruned: options.claimsDays === undefined ? 0 : await store.pruneClaims(now - options.claimsDays * DAY_MS),
    chatCutoff: new Date(chatCutoff).toISOString(),
    trailCutoff: new Date(trailCutoff).toISOString(),
    inboxCutoff: new Date(inboxCutoff).toISOString(),
  }
  const documents = (await Promise.all(CONVERSATION_FAMILIES.map((family) => store.listDocuments({ surface: family })))).flat()
  for (const { name } of documents) {
    const { doc } = await replay(store, name)
    const old = oldMessages(doc, chatCutoff).length
    doc.destroy()
    if (old > 0) {
      await options.apply(name, (live) => removeOldMessages(live, chatCutoff))
      report.messagesRemoved += old
    }
    report.entriesDropped += (await truncateHistory(store, name, chatCutoff, { concurrent: true }))?.dropped ?? 0
    report.documentsChecked++
    options.onProgress?.(report.documentsChecked, documents.length)
  }
  for (const { name } of await store.listDocuments({ surface: 'inbox' })) {
    const { doc } = await replay(store, name)
    const expired = expiredItems(doc, inboxCutoff).length
    doc.destroy()
    if (expired === 0) continue
    await options.apply(name, (live) => removeExpiredItems(live, inboxCutoff))
    report.inboxItemsRemoved += expired
  }
  return report
}

/**
 * Runs retention once a day in a server (the first run a minute after start), applying message
 * removals to live documents so connected clients see them. With several instances on one store
 * the day's run is claimed once. Returns the function that stops the timer.
 */
export function startRetentionTimer(app: Homeroom, firstRunMs = 60_000): () => void {
  const run = async () => {
    try {
      const now = app.clock.now()
      const day = new Date(now).toISOString().slice(0, 10)
      if (!(await app.store.claim(`retention:${day}`))) return
      const report = await runRetention({
        store: app.store,
        now,
        claimsDays: app.config.claims.retentionDays,
        chatDays: app.config.retention.chatDays,
        busTrailDays: app.config.retention.busTrailDays,
        inboxDays: app.config.retention.inboxDays,
        apply: (name, change) => serverWrite(app.hocuspocus, name, change, RETENTION_USER),
      })
      app.log.info(report, 'retention applied')
    } catch (error) {
      app.log.error({ err: error }, 'retention run failed; it will be tried again tomorrow (or run `homeroom retention run`)')
    }
  }
  const first = setTimeout(run, firstRunMs).unref()
  const daily = setInterval(run, DAY_MS).unref()
  return () => {
    clearTimeout(first)
    clearInterval(daily)
  }
}
