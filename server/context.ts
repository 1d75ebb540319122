// What a document connection carries from authentication to every later hook.
import type { DocRef, Identity, Surface } from '../docs-model/types.ts'

export interface HomeroomContext {
  user: Identity
  ref: DocRef
  surface: Surface
}

/**
 * A refusal Hocuspocus turns into a close (or an auth failure) with this reason. It carries no
 * stack: Hocuspocus prints every exception that closes a connection, and a refusal is an answer
 * to a client, not a fault, so a hostile client must not be able to fill the log with traces.
 */
export class Refusal extends Error {
  readonly reason: string
  readonly code: number
  constructor(reason: string, code = 4403) {
    // No message: Hocuspocus prints an error's message to the console; the reason is logged by us.
    super()
    this.reason = reason
    this.code = code
    this.stack = `Refusal: ${reason}`
  }
}

export const contextOf = (context: unknown): HomeroomContext | undefined => {
  const c = context as Partial<HomeroomContext> | undefined
  return c?.user && c.ref && c.surface ? (c as HomeroomContext) : undefined
}
