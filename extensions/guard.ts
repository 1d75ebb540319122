// The write guard: every update a client sends (sync step 2 or update) is checked path by path
// against the surface's write rules before Hocuspocus applies it. One forbidden change refuses
// the whole update; the connection closes with the reason and nothing is applied or journaled
// (Persistence runs after the guard). The server's own writes use direct connections, which
// never pass through beforeHandleMessage.
import client from 'prom-client'
import type { afterUnloadDocumentPayload, beforeHandleMessagePayload, Extension } from '@hocuspocus/server'
import { writeContext } from '../docs-model/rules.ts'
import { carriesUpdate, isEmptyUpdate, parseFrame } from '../server/frames.ts'
import { contextOf, Refusal } from '../server/context.ts'
import { checkUpdate } from '../server/guard/check.ts'
import { ClientIdOwners } from '../server/guard/client-ids.ts'
import type { RelatedDocs } from '../server/facts.ts'
import type { Metrics } from '../server/metrics.ts'
import type { Logger } from '../server/log.ts'

export interface GuardConfig {
  metrics: Metrics
  log: Logger
  related: RelatedDocs
}

export class Guard implements Extension {
  readonly extensionName = 'guard'
  /** After Limits (1000) and Auth (900), before Persistence (100). */
  readonly priority = 500
  private readonly config: GuardConfig
  private readonly seconds: client.Histogram
  private readonly clientIds = new ClientIdOwners()

  constructor(config: GuardConfig) {
    this.config = config
    this.seconds = new client.Histogram({
      name: 'homeroom_guard_seconds',
      help: 'Time the write guard spends checking one update',
      buckets: [0.00001, 0.00005, 0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.25],
      registers: [config.metrics.registry],
    })
  }

  async beforeHandleMessage({ update, context, document, connection, documentName }: beforeHandleMessagePayload): Promise<void> {
    const frame = parseFrame(update)
    if (!carriesUpdate(frame) || isEmptyUpdate(frame.payload)) return
    const ctx = contextOf(context)
    if (!ctx) throw this.refuse(documentName, 'forbidden-write: connection has no identity')
    let reason: string | null
    try {
      const related = ctx.surface.related?.(ctx.ref) ?? []
      if (related.length > 0) await this.config.related.load(related)
      const started = performance.now()
      const clientIds = this.clientIds.forUpdate(document, ctx.user.sub)
      reason = checkUpdate(frame.payload, ctx.surface, writeContext(ctx.user, ctx.ref, document, this.config.related.facts), clientIds)
      if (!reason) clientIds.commit()
      this.seconds.observe((performance.now() - started) / 1000)
    } catch (error) {
      this.config.metrics.observerErrors.inc({ where: 'guard' })
      this.config.log.error({ err: error, doc: documentName, user: ctx.user.sub }, 'write guard failed; refusing the update')
      reason = 'forbidden-write: the update could not be checked'
    }
    if (reason) throw this.refuse(documentName, reason, ctx.user.sub)
  }

  async afterUnloadDocument({ documentName }: afterUnloadDocumentPayload): Promise<void> {
    this.config.related.forget(documentName)
  }

  private refuse(documentName: string, reason: string, user?: string): Refusal {
    this.config.metrics.refuse(reason)
    this.config.log.info({ doc: documentName, user, reason }, 'refused a write')
    return new Refusal(reason, reason.startsWith('bad-message') ? 4400 : 4403)
  }
}
