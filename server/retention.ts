// Retention: bus trail points older than BUS_TRAIL_RETENTION_DAYS are deleted; chat, dm and group
// messages older than CHAT_RETENTION_DAYS are removed as a new change, and the journal history of
// those documents before the window is replaced by a snapshot at the window start, so the removed
// messages' original entries are gone too (up to one run later when the document had no recent
// snapshot: see truncateHistory). Other documents (exam records, boards) keep history.
import type * as Y from 'yjs'
import type { Homeroom } from './homeroom.ts'
import { replay } from './history/replay.ts'
import type { HistoryStore, TrailStore } from './store/types.ts'
import { truncateHistory } from './history/prune.ts'
import { SERVER_USER, serverWrite } from './writes.ts'
import type { Identity } from '../docs-model/types.ts'

export const DAY_MS = 86_400_000

/** Conversation surfaces: their `messages` array is what CHAT_RETENTION_DAYS applies to. */
export const CONVERSATION_SURFACES = ['chat', 'dm', 'group'] as const

export const RETENTION_USER: Identity = { ...SERVER_USER, sub: 'retention', name: 'Retention' }

/** Applies a change to a document: to the live copy in a server, or straight into the store. */
export type ApplyChange = (name: string, change: (doc: Y.Doc) => void) => Promise<void>

export interface RetentionOptions {
  store: HistoryStore & TrailStore
  chatDays: number
  busTrailDays: number
  apply: ApplyChange
  now?: number
  onProgress?: (done: number, total: number) => void
}

export interface RetentionReport {
  trailPointsDeleted: number
  documentsChecked: number
  messagesRemoved: number
  entriesDropped: number
  chatCutoff: string
  trailCutoff: string
}

/** A message's time (milliseconds or an ISO string, as clients write it); NaN when unreadable, so it is kept. */
function messageTime(message: unknown): number {
  const at = (message as { at?: unknown } | null)?.at
  if (typeof at === 'number') return at
  return typeof at === 'string' ? Date.parse(at) : Number.NaN
}

function oldMessages(doc: Y.Doc, cutoff: number): number[] {
  const messages = doc.getArray('messages').toArray()
  return messages.flatMap((message, index) => (messageTime(message) < cutoff ? [index] : []))
}

/** Deletes messages older than `cutoff`, from the end so earlier indexes stay valid. */
function removeOldMessages(doc: Y.Doc, cutoff: number): void {
  const messages = doc.getArray('messages')
  for (const index of oldMessages(doc, cutoff).reverse()) messages.delete(index, 1)
}

export async function runRetention(options: RetentionOptions): Promise<RetentionReport> {
  const { store } = options
  const now = options.now ?? Date.now()
  const chatCutoff = now - options.chatDays * DAY_MS
  const trailCutoff = now - options.busTrailDays * DAY_MS
  const report: RetentionReport = {
    trailPointsDeleted: await store.deleteTrailBefore(trailCutoff),
    documentsChecked: 0,
    messagesRemoved: 0,
    entriesDropped: 0,
    chatCutoff: new Date(chatCutoff).toISOString(),
    trailCutoff: new Date(trailCutoff).toISOString(),
  }
  const documents = (await Promise.all(CONVERSATION_SURFACES.map((surface) => store.listDocuments({ surface })))).flat()
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
      const day = new Date().toISOString().slice(0, 10)
      if (!(await app.store.claim(`retention:${day}`))) return
      const report = await runRetention({
        store: app.store,
        chatDays: app.config.retention.chatDays,
        busTrailDays: app.config.retention.busTrailDays,
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
