// What every observer shares: deadlines re-armed from documents, work serialised per document,
// bursts of changes coalesced into one run, derived writes made only where something differs,
// and errors contained and counted. Time comes from the server's clock (server/clock.ts).
import { randomUUID } from 'node:crypto'
import client from 'prom-client'
import { equalityDeep } from 'lib0/function'
import type * as Y from 'yjs'
import { resolve, type DocRef } from '../../docs-model/index.ts'
import { mapOf } from '../../docs-model/common.ts'
import type { InboxItem } from '../../docs-model/surfaces/inbox/surface.ts'
import type { Clock, Timer } from '../../server/clock.ts'
import type { Homeroom } from '../../server/homeroom.ts'
import type { Metrics } from '../../server/metrics.ts'
import type { JournalStore } from '../../server/store/types.ts'
import { serverWrite, SERVER_USER } from '../../server/writes.ts'
import { deliver } from '../../server/inbox.ts'
import { replay } from '../../server/history/replay.ts'
import { WriterLeases } from './writer-lease.ts'
import { redisLeases } from '../redis/leases.ts'
import { onlineRecords, type OnlineRecords } from '../redis/online.ts'

/** Timers overflow past 2^31 ms (24.8 days); longer deadlines are re-armed on the way. */
const MAX_DELAY_MS = 24 * 3600 * 1000

/** One pending timer per key; a deadline that has passed fires at once. */
export class Deadlines {
  private readonly clock: Clock
  private readonly timers = new Map<string, Timer>()
  private stopped = false

  constructor(clock: Clock) {
    this.clock = clock
  }

  set(key: string, at: number, fire: () => void): void {
    this.clear(key)
    if (this.stopped) return
    const delay = Math.max(0, at - this.clock.now())
    const timer = this.clock.setTimeout(() => {
      this.timers.delete(key)
      if (delay > MAX_DELAY_MS) this.set(key, at, fire)
      else fire()
    }, Math.min(delay, MAX_DELAY_MS))
    timer.unref()
    this.timers.set(key, timer)
  }

  has(key: string): boolean {
    return this.timers.has(key)
  }

  clear(key: string): void {
    this.clock.clearTimeout(this.timers.get(key))
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

/**
 * Runs one task per key after `delayMs`; requests arriving meanwhile or while it runs fold into
 * one more run. The window is real time, not the server's clock: it batches work, it is no deadline.
 */
export class Coalescer {
  private readonly states = new Map<string, { again: boolean; timer?: NodeJS.Timeout }>()
  private readonly delayMs: number
  private readonly onError: (error: unknown) => void
  private closed = false

  constructor(delayMs: number, onError: (error: unknown) => void) {
    this.delayMs = delayMs
    this.onError = onError
  }

  request(key: string, task: () => Promise<void>): void {
    if (this.closed) return
    const existing = this.states.get(key)
    if (existing) {
      existing.again = true
      return
    }
    const state: { again: boolean; timer?: NodeJS.Timeout } = { again: false }
    this.states.set(key, state)
    state.timer = setTimeout(async () => {
      state.timer = undefined
      do {
        state.again = false
        try {
          await task()
        } catch (error) {
          this.onError(error)
        }
      } while (state.again && !this.closed)
      this.states.delete(key)
    }, this.delayMs)
    state.timer.unref()
  }

  close(): void {
    this.closed = true
    for (const state of this.states.values()) clearTimeout(state.timer)
    this.states.clear()
  }
}

const owners = new WeakMap<object, string>()

/** This server process as the owner of claims and leases: INSTANCE_ID plus a random suffix, so two equal names stay apart. */
export function instanceOwner(app: Pick<Homeroom, 'config'>): string {
  let owner = owners.get(app)
  if (!owner) owners.set(app, (owner = `${app.config.instanceId}-${randomUUID().slice(0, 8)}`))
  return owner
}

type Reporter = Pick<Homeroom, 'metrics' | 'log'>

/** Counts and logs an error caught in an observer; observers never let one escape. */
export function report(app: Reporter, where: string, error: unknown, doc?: string): void {
  app.metrics.observerErrors.inc({ where })
  app.log.error({ err: error, where, doc }, 'observer failed')
}

/** Runs `task`, reporting any error instead of letting it reach Hocuspocus or the process. */
export async function contain(app: Reporter, where: string, task: () => Promise<void> | void): Promise<void> {
  try {
    await task()
  } catch (error) {
    report(app, where, error)
  }
}

/** Pauses before each further attempt of `persist`: the store or Redis may be away for a few seconds. */
const PERSIST_DELAYS_MS = [500, 1000, 2000, 4000, 8000]

/**
 * Like `contain`, for work that must not be lost to a passing outage (a submission to stamp and
 * grade): a failure is reported and the task run again after a pause, a few times, while the
 * server serves. The task must be idempotent (observers write only what differs).
 */
export async function persist(app: Reporter & Pick<Homeroom, 'serving'>, where: string, task: () => Promise<void> | void): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await task()
      return
    } catch (error) {
      report(app, where, error)
      if (attempt >= PERSIST_DELAYS_MS.length || !app.serving()) return
      await new Promise((resolve) => setTimeout(resolve, PERSIST_DELAYS_MS[attempt]).unref())
    }
  }
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

const writerLeases = new WeakMap<object, WriterLeases>()

/** This server's writer leases (writer-lease.ts), kept in Redis; undefined without Redis, where no other instance shares documents. */
export function writerLeasesOf(app: Pick<Homeroom, 'config' | 'redis' | 'clock'>): WriterLeases | undefined {
  if (!app.config.redisUrl || !app.redis) return undefined
  let leases = writerLeases.get(app)
  if (!leases) {
    const store = redisLeases(app.redis, app.config.redisKeyPrefix)
    writerLeases.set(app, (leases = new WriterLeases({ store, owner: instanceOwner(app), clock: app.clock, leaseMs: app.config.claims.leaseMs })))
  }
  return leases
}

const online = new WeakMap<object, OnlineRecords>()

/** This server's records of connections across instances (redis/online.ts); undefined without Redis, where its own connections are all there are. */
export function onlineRecordsOf(app: Pick<Homeroom, 'config' | 'redis'>): OnlineRecords | undefined {
  if (!app.config.redisUrl || !app.redis) return undefined
  let records = online.get(app)
  if (!records) online.set(app, (records = onlineRecords(app.redis, app.config.redisKeyPrefix, instanceOwner(app))))
  return records
}

/**
 * A derived write as the server, marked with the observer that makes it (the registry does not
 * hand it back to that observer as a change), made while this instance holds the document's
 * writer lease (one instance at a time writes derived state into a document); skipped once the
 * server is shutting down.
 */
export async function derive(app: Homeroom, by: string, name: string, change: (doc: Y.Doc) => void): Promise<void> {
  if (await writerTurn(app, name)) await serverWrite(app.hocuspocus, name, change, { user: SERVER_USER, derivedBy: by })
}

/** Resolves true once this instance may make a derived write into `name` (it holds the writer lease), false once the server stops. */
export async function writerTurn(app: Homeroom, name: string): Promise<boolean> {
  if (!app.serving()) return false
  const leases = writerLeasesOf(app)
  if (leases && !(await leases.hold(name, () => app.serving()))) return false
  return app.serving()
}

/** Inbox items (see `deliver`), skipped once the server is shutting down. */
export async function notify(app: Homeroom, school: string, users: string[], id: string, item: InboxItem): Promise<void> {
  if (app.serving()) await deliver(app, school, users, id, item)
}

/** Reads a document: the live copy when loaded, else its stored state (at `at`, if given), discarded afterwards. */
export async function readDoc<T>(app: Homeroom, name: string, read: (doc: Y.Doc) => T, at?: number): Promise<T> {
  const live = at === undefined ? app.hocuspocus.documents.get(name) : undefined
  if (live) return read(live)
  const { doc } = await replay(app.store, name, at === undefined ? {} : { at })
  try {
    return read(doc)
  } finally {
    doc.destroy()
  }
}

/** Deep equality of two values read from or meant for a document, for "write only when it changed". */
export const sameJson = (a: unknown, b: unknown): boolean => equalityDeep(a, b)

/** The keys of `map` that must change so that it equals `desired` (with `prune`, extra keys go too). */
function differences(map: Y.Map<unknown>, desired: Record<string, unknown>, prune: boolean): { set: string[]; drop: string[] } {
  const set = Object.keys(desired).filter((key) => !map.has(key) || !sameJson(map.get(key), desired[key]))
  const drop = prune ? [...map.keys()].filter((key) => !(key in desired)) : []
  return { set, drop }
}

/**
 * Makes the map `root` of document `name` hold `desired`, writing only the entries that differ
 * and nothing at all when none does. Returns whether anything was written.
 */
export async function syncMap(app: Homeroom, by: string, name: string, root: string, desired: Record<string, unknown>, options: { prune?: boolean } = {}): Promise<boolean> {
  const prune = options.prune ?? false
  const pending = await readDoc(app, name, (doc) => differences(mapOf(doc, root), desired, prune))
  if (pending.set.length === 0 && pending.drop.length === 0) return false
  await derive(app, by, name, (doc) => {
    const map = doc.getMap(root)
    const { set, drop } = differences(map, desired, prune)
    for (const key of set) map.set(key, desired[key])
    for (const key of drop) map.delete(key)
  })
  return true
}

/** `items` in consecutive slices of at most `size`. */
export function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = []
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size))
  return out
}

/** Names of a family's documents: stored ones plus those only in memory so far. */
export async function documentsUnder(
  store: Pick<JournalStore, 'listDocuments'>,
  loaded: Iterable<string>,
  filter: { school?: string; family: string },
  keep: (ref: DocRef) => boolean,
): Promise<DocRef[]> {
  const names = new Set((await store.listDocuments({ school: filter.school, surface: filter.family })).map((d) => d.name))
  for (const name of loaded) names.add(name)
  const refs: DocRef[] = []
  for (const name of [...names].sort()) {
    let ref: DocRef | undefined
    try {
      ref = resolve(name).ref
    } catch {
      continue
    }
    if (keep(ref)) refs.push(ref)
  }
  return refs
}
