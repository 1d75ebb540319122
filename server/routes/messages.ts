// GET /api/v1/docs/<name>/messages?before=<id>&limit=: a conversation's history page by page, for
// those who may open the conversation (the same read rules as opening it). A page is up to
// `limit` (default 50, at most 500) messages older than the message `before` (the newest when
// absent), oldest first; `before` in the answer names the page after it, while older ones exist.
// Messages come from the document and, older than what it keeps, from the message archive.
import { z } from 'zod'
import type { Homeroom } from '../homeroom.ts'
import { HttpError } from '../http.ts'
import { messageArchive, type MessageArchive } from '../message-archive.ts'
import { belongsTo } from '../../docs-model/common.ts'
import { readDecision } from '../../docs-model/rules.ts'
import { resolve } from '../../docs-model/registry.ts'
import type { Identity } from '../../docs-model/types.ts'
import { messagesOf, type ChatMessage } from '../../docs-model/surfaces/chat/surface.ts'
import { CONVERSATION_FAMILIES } from '../../docs-model/surfaces/chat/state.ts'

const SUFFIX = '/messages'
export const messagesQuery = z.object({
  before: z.string().min(1).max(64).optional().describe('GET …/messages: the id of the message the page ends before'),
  limit: z.coerce.number().int().min(1).max(500).default(50).describe('GET …/messages: messages per page'),
})

/** The conversation a `…/messages` path names, or undefined when the path names something else (a room called `messages`, say). */
export function conversationOf(path: string): string | undefined {
  if (!path.endsWith(SUFFIX)) return undefined
  const name = path.slice(0, -SUFFIX.length)
  try {
    return (CONVERSATION_FAMILIES as readonly string[]).includes(resolve(name).ref.surface) ? name : undefined
  } catch {
    return undefined
  }
}

const archives = new WeakMap<Homeroom, MessageArchive>()

export async function messagesPage(app: Homeroom, caller: Identity, name: string, query: z.output<typeof messagesQuery>): Promise<{ document: string; messages: ChatMessage[]; before?: string }> {
  const { ref, surface } = resolve(name)
  const decision = belongsTo(caller, ref.school) ? readDecision(surface, caller, ref) : false
  if (decision === false || (decision === 'content' && !(await surface.readContent!(caller, ref, app.peek)))) {
    throw new HttpError(403, 'forbidden', `${caller.sub} may not read ${name}`)
  }
  let archive = archives.get(app)
  if (!archive) archives.set(app, (archive = messageArchive(app.store)))
  const live = messagesOf(await app.peek(name))
  let fromDoc = live
  let beforePos: number | undefined
  if (query.before !== undefined) {
    const index = live.map((m) => m.id).lastIndexOf(query.before)
    if (index >= 0) fromDoc = live.slice(0, index)
    else {
      beforePos = await archive.posOf(name, query.before)
      if (beforePos === undefined) throw new HttpError(404, 'not-found', `no message ${query.before} in ${name}`)
      fromDoc = []
    }
  }
  // One more than asked for: whether an older page exists.
  const wanted = query.limit + 1
  const newest = fromDoc.slice(-wanted)
  const older = newest.length < wanted ? (await archive.page(name, beforePos, wanted - newest.length)).reverse().map((a) => a.message) : []
  const candidates = [...older, ...newest]
  const page = candidates.slice(-query.limit)
  return { document: name, messages: page, ...(candidates.length > query.limit && page.length > 0 ? { before: page[0].id } : {}) }
}
