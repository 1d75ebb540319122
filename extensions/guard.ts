// The write guard: every update a client sends (sync step 2 or update) is checked path by path
// against the surface's write rules before Hocuspocus applies it. One forbidden change refuses
// the whole update; the connection closes with the reason and nothing is applied or journaled
// (Persistence runs after the guard). The server's own writes use direct connections, which
// never pass through beforeHandleMessage.
import client from 'prom-client'
import * as Y from 'yjs'
import type { afterUnloadDocumentPayload, beforeHandleMessagePayload, Document, Extension, onDisconnectPayload } from '@hocuspocus/server'
import { writeContext } from '../docs-model/rules.ts'
import type { ServerTime } from '../docs-model/types.ts'
import type { Clock } from '../server/clock.ts'
import { carriesUpdate, isEmptyUpdate, parseFrame, type Frame } from '../server/frames.ts'
import { contextOf, Refusal } from '../server/context.ts'
import { judge, readUpdate } from '../server/guard/check.ts'
import { closeCodeFor } from '../docs-model/refusals.ts'
import { ClientIdOwners, type OwnerStore } from '../server/guard/client-ids.ts'
import { addsNothing, type DecodeLimits } from '../server/guard/decode.ts'
import type { RelatedDocs } from '../server/facts.ts'
import { TokenBuckets } from '../server/rate.ts'
import type { Config } from '../server/config.ts'
import type { Metrics } from '../server/metrics.ts'
import type { Logger } from '../server/log.ts'
import { EXTENSION_PRIORITY } from './priorities.ts'

export interface GuardConfig {
  metrics: Metrics
  log: Logger
  related: RelatedDocs
  /** Where client-id ownership is kept. */
  store: OwnerStore
  limits: Pick<Config['limits'], 'valueDepth' | 'valueBytes' | 'updateStructs' | 'structsPerSec' | 'docBytes' | 'clockSkewS'>
  /** The server's clock, which client-written times are held to. */
  clock: Clock
}


export class Guard implements Extension {
  readonly extensionName = 'guard'
  /** After Limits (1000) and Auth (900), before Persistence (100). */
  readonly priority = EXTENSION_PRIORITY.guard
  private readonly config: GuardConfig
  private readonly seconds: client.Histogram
  private readonly owners: ClientIdOwners
  private readonly decodeLimits: DecodeLimits
  /** New structs per connection per second: one client cannot keep the event loop busy applying. */
  private readonly budget: TokenBuckets
  /** Encoded size of each loaded document, measured once and grown by what the guard admits. */
  private readonly sizes = new WeakMap<Document, number>()
  private readonly time: ServerTime

  constructor(config: GuardConfig) {
    this.config = config
    this.owners = new ClientIdOwners(config.store)
    this.decodeLimits = { valueDepth: config.limits.valueDepth, valueBytes: config.limits.valueBytes, updateStructs: config.limits.updateStructs }
    this.budget = new TokenBuckets(config.limits.structsPerSec)
    this.time = { now: () => config.clock.now(), skewMs: config.limits.clockSkewS * 1000 }
    this.seconds = new client.Histogram({
      name: 'homeroom_guard_seconds',
      help: 'Time the write guard spends checking one update',
      buckets: [0.00001, 0.00005, 0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.25],
      registers: [config.metrics.registry],
    })
  }

  async beforeHandleMessage({ update, context, document, documentName, socketId }: beforeHandleMessagePayload): Promise<void> {
    const frame = parseFrame(update)
    if (!carriesUpdate(frame) || isEmptyUpdate(frame.payload)) return
    const ctx = contextOf(context)
    if (!ctx) throw this.refuse(documentName, 'forbidden-write: connection has no identity')
    let reason: string | null
    try {
      reason = await this.check(frame, ctx, document, documentName, socketId)
    } catch (error) {
      this.config.metrics.observerErrors.inc({ where: 'guard' })
      this.config.log.error({ err: error, doc: documentName, user: ctx.user.sub }, 'write guard failed; refusing the update')
      // A failure of ours (the store unreachable for client id owners), not the client's: it may send the change again.
      reason = 'unavailable: the change could not be checked; it was not applied, reconnect to retry'
    }
    if (reason) throw this.refuse(documentName, reason, ctx.user.sub)
  }

  async onDisconnect({ socketId }: onDisconnectPayload): Promise<void> {
    this.budget.forget(socketId)
  }

  async afterUnloadDocument({ documentName }: afterUnloadDocumentPayload): Promise<void> {
    this.config.related.forget(documentName)
    this.owners.forget(documentName)
  }

  private async check(frame: Frame & { payload: Uint8Array }, ctx: NonNullable<ReturnType<typeof contextOf>>, document: Document, name: string, socketId: string): Promise<string | null> {
    const started = performance.now()
    const decoded = readUpdate(frame.payload, document, this.decodeLimits)
    if (typeof decoded === 'string') return decoded
    if (decoded.structs > 0 && !this.budget.take(socketId, Date.now(), Math.min(decoded.structs, this.config.limits.structsPerSec * 2))) {
      return `rate-limited: more than ${this.config.limits.structsPerSec} new structs per second; resend shortly`
    }
    const size = this.sizeOf(document)
    if (decoded.bytes > 0 && size + decoded.bytes > this.config.limits.docBytes) {
      return `too-large: the document would grow past ${this.config.limits.docBytes} bytes`
    }
    const related = ctx.surface.related?.(ctx.ref) ?? []
    if (related.length > 0) await this.config.related.load(related)
    const owners = decoded.written.size > 0 ? await this.owners.lookup(name, document, decoded.written) : undefined
    const verdict = judge(decoded, ctx.surface, writeContext(ctx.user, ctx.ref, document, this.config.related.facts, this.time), owners ?? NO_OWNERS)
    this.seconds.observe((performance.now() - started) / 1000)
    if (verdict.reason) return verdict.reason
    if (verdict.claims.length > 0) {
      const lost = await this.owners.claim(name, verdict.claims, ctx.user.sub)
      if (lost) return lost
    }
    this.sizes.set(document, size + decoded.bytes)
    frame.redundant = addsNothing(decoded, document.store)
    return null
  }

  private sizeOf(document: Document): number {
    let size = this.sizes.get(document)
    if (size === undefined) this.sizes.set(document, (size = Y.encodeStateAsUpdate(document).byteLength))
    return size
  }

  private refuse(documentName: string, reason: string, user?: string): Refusal {
    this.config.metrics.refuse(reason)
    this.config.log.info({ doc: documentName, user, reason }, 'refused a write')
    return new Refusal(reason, closeCodeFor(reason))
  }
}

/** For an update that writes under no client id at all (only deletes). */
const NO_OWNERS = { of: () => undefined }
