// What the exam, proctoring, emergency and bus observers share: deadlines re-armed from
// documents, work serialised per document, and errors contained and counted. Coalescing
// bursts of changes is `Coalescer` in ./support.ts, shared with the classroom observers.
import client from 'prom-client'
import { isTransactionOrigin } from '@hocuspocus/server'
import { resolve, type DocRef } from '../../docs-model/index.ts'
import type { Metrics } from '../../server/metrics.ts'
import type { Logger } from '../../server/log.ts'
import type { Store } from '../../server/store/types.ts'
import type { Homeroom } from '../../server/app.ts'
import { serverWrite } from '../../server/writes.ts'
import { deliver } from '../../server/inbox.ts'
import type { InboxItem } from '../../docs-model/surfaces/inbox/surface.ts'
import type * as Y from 'yjs'

/** setTimeout overflows past 2^31 ms (24.8 days); longer deadlines are re-armed on the way. */
const MAX_DELAY_MS = 24 * 3600 * 1000

/** One pending timer per key; a deadline that has passed fires at once. */
export class Deadlines {
  private readonly timers = new Map<string, NodeJS.Timeout>()
  private stopped = false

  set(key: string, at: number, fire: () => void): void {
    this.clear(key)
    if (this.stopped) return
    const delay = Math.max(0, at - Date.now())
    const timer = setTimeout(() => {
      this.timers.delete(key)
      if (delay > MAX_DELAY_MS) this.set(key, at, fire)
      else fire()
    }, Math.min(delay, MAX_DELAY_MS))
    timer.unref()
    this.timers.set(key, timer)
  }

  clear(key: string): void {
    clearTimeout(this.timers.get(key))
    this.timers.delete(key)
  }

  stop(): void {
    this.stopped = true
    for (const key of [...this.timers.keys()]) this.clear(key)
  }
}

/** Runs tasks one after another per key, so two runs for the same document never interleave. */
export class Serial {
  private readonly tails = new Map<string, Promise<void>>()

  run(key: string, task: () => Promise<void>): Promise<void> {
    const next = (this.tails.get(key) ?? Promise.resolve()).then(task)
    const tail = next.catch(() => {})
    this.tails.set(key, tail)
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key)
    })
    return next
  }
}

export interface ObserverDeps {
  metrics: Metrics
  log: Logger
}

const ignoredCounters = new WeakMap<object, client.Counter<'surface' | 'reason'>>()

/** Counter of client data an observer ignored (bad values, unknown types), by surface and reason. */
export function ignoredCounter(metrics: Metrics): client.Counter<'surface' | 'reason'> {
  let counter = ignoredCounters.get(metrics.registry)
  if (!counter) {
    counter = new client.Counter({
      name: 'homeroom_observer_ignored_total',
      help: 'Client values observers ignored as malformed, by surface and reason',
      labelNames: ['surface', 'reason'],
      registers: [metrics.registry],
    })
    ignoredCounters.set(metrics.registry, counter)
  }
  return counter
}

/** Runs `task`, logging and counting any error instead of letting it reach Hocuspocus or the process. */
export async function contain(deps: ObserverDeps, where: string, task: () => Promise<void> | void): Promise<void> {
  try {
    await task()
  } catch (error) {
    deps.metrics.observerErrors.inc({ where })
    deps.log.error({ err: error, where }, 'observer failed')
  }
}

/** The parsed name of a document, or undefined for names no surface declares. */
export function refOf(name: string): DocRef | undefined {
  try {
    return resolve(name).ref
  } catch {
    return undefined
  }
}

/** Changes arriving from another instance through Redis; that instance already acted on them. */
export const fromPeer = (origin: unknown): boolean => isTransactionOrigin(origin) && origin.source === 'redis'

/** Changes the server itself made (observers, routes, tools), as opposed to a user's client. */
export const fromServer = (origin: unknown): boolean => isTransactionOrigin(origin) && origin.source === 'local'

/**
 * Whether the server still serves. Hocuspocus' shutdown first stops listening, then waits for
 * every document to unload: an observer writing after that would load a document again while
 * the store closes, and it would never unload.
 */
export const serving = (app: Homeroom): boolean => app.server.httpServer.listening

/** A derived write as the server (see `serverWrite`), skipped once the server is shutting down. */
export async function derive(app: Homeroom, name: string, change: (doc: Y.Doc) => void): Promise<void> {
  if (serving(app)) await serverWrite(app.hocuspocus, name, change)
}

/** Inbox items (see `deliver`), skipped once the server is shutting down. */
export async function notify(app: Homeroom, school: string, users: string[], id: string, item: InboxItem): Promise<void> {
  if (serving(app)) await deliver(app.hocuspocus, school, users, id, item)
}

/** `items` in consecutive slices of at most `size`. */
export function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = []
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size))
  return out
}

/** Stringified comparison of two JSON values, for "write only when it changed". */
export const sameJson = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b)

/** Names of a surface's documents: stored ones plus those only in memory so far. */
export async function documentsUnder(
  store: Store,
  loaded: Iterable<string>,
  filter: { school?: string; surface: string },
  keep: (ref: DocRef) => boolean,
): Promise<DocRef[]> {
  const names = new Set((await store.listDocuments(filter)).map((d) => d.name))
  for (const name of loaded) names.add(name)
  const refs: DocRef[] = []
  for (const name of [...names].sort()) {
    const ref = refOf(name)
    if (ref && keep(ref)) refs.push(ref)
  }
  return refs
}
