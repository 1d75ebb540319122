// A refusal in plain words: what the server's reason (docs-model/refusals.ts) means for the
// person who made the change, with the reason and close code kept for the curious.
import { closeCodeFor } from '../../docs-model/refusals.ts'

const MEANING: Record<string, string> = {
  'forbidden-write': 'You are not allowed to change this part of the document.',
  frozen: 'This is closed for changes right now.',
  forbidden: 'You may not open this document.',
  unauthenticated: 'Your sign-in is missing, invalid or expired.',
  'too-large': 'The change is too large for the server to accept.',
  'bad-message': 'The server could not read the change.',
  'bad-name': 'There is no document by that name.',
  'unknown-surface': 'There is no such kind of document.',
  'rate-limited': 'Too many changes at once: the change is sent again in a moment.',
  limit: 'A limit was reached: try again in a moment.',
  full: 'The server is full right now: try again in a moment.',
}

export interface PlainRefusal {
  /** What it means, in a sentence. */
  meaning: string
  /** The server's own detail (`author must be the sender`, `exam closed`), if any. */
  detail?: string
  reason: string
  code: number
}

export function plainRefusal(reason: string): PlainRefusal {
  const word = /^([a-z-]+)/.exec(reason)?.[1] ?? ''
  // `forbidden-write: messages (author must be the sender)`, `frozen: exam closed`
  const rest = reason.slice(word.length).replace(/^:\s*/, '')
  const detail = /\(([^)]*)\)\s*$/.exec(rest)?.[1] ?? (word === 'frozen' ? rest : word === 'forbidden-write' && rest ? `you may not write ${rest}` : undefined)
  return { meaning: MEANING[word] ?? 'The server did not accept the change.', detail: detail || undefined, reason, code: closeCodeFor(reason) }
}
