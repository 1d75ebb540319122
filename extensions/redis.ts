// Joining the other instances through Redis: @hocuspocus/extension-redis subscribes documents,
// applies what peers publish (origin {source: 'redis'}, which persistence does not journal again),
// syncs a document's state with its peers when it loads, and carries presence and stateless
// messages. This wrapper changes how updates travel and makes the whole survive outages.
//
// - A client's update is published to the document's channel right after the guard accepted it
//   and persistence journaled it, before Hocuspocus applies and acknowledges it. So every
//   acknowledged update has reached Redis: an instance killed right after acknowledging loses
//   nothing for the peers. The wrapped extension would instead announce each change with a
//   SyncStep1 one event-loop turn later and send the update only when a peer asked back (1.5
//   round trips, each answer carrying the whole delete set). Server writes (observers, tools)
//   are published as they happen.
// - Redis down (at start or later): the instance keeps serving its own clients. Publishing is
//   skipped (there is no one to deliver to), documents load from storage alone, the outage is
//   logged once and counted. Commands never queue while Redis is away, so nothing waits on it.
// - Redis back: every loaded document is subscribed again and announces its state vector
//   (a SyncStep1). A peer answers with what we lack plus its own SyncStep1, which we answer with
//   what it lacks: both directions heal, deletions included. Pub/sub drops whatever was sent
//   while a subscriber was away, so this resync is what makes an outage lossless.
// - A gap while Redis stays up (an update that needs one this instance never received, e.g. one
//   published while it was subscribing) leaves pending structs in the document: the instance
//   then asks its peers with a SyncStep1 instead of waiting for an outage to heal it.
// - The extension's store lock is not used: snapshots are compacted from the shared journal and
//   written idempotently, so two instances snapshotting together is harmless, while a lock that
//   is lost or unreachable would silently skip the store chain.
// - Names: REDIS_KEY_PREFIX (default `homeroom:`) without its trailing colon is the namespace N of
//   the wrapped extension's framing: documents travel on `N:<document>`, replies on
//   `N#reply:<identifier>`. These channels are all Homeroom uses in Redis (no keys: the lock is
//   not used), so clusters with different prefixes share one Redis without seeing each other,
//   and the default keeps the names of earlier versions. Document names never hold `:` or `#`,
//   so two prefixes cannot reach the same channel (`a` and `a:` are one namespace).
import { randomUUID } from 'node:crypto'
import type {
  afterLoadDocumentPayload,
  beforeHandleMessagePayload,
  afterUnloadDocumentPayload,
  beforeBroadcastStatelessPayload,
  beforeUnloadDocumentPayload,
  Extension,
  Hocuspocus,
  onAwarenessUpdatePayload,
  onChangePayload,
  onConfigurePayload,
} from '@hocuspocus/server'
import { isTransactionOrigin, MessageType, OutgoingMessage } from '@hocuspocus/server'
import { Redis as HocuspocusRedis, type RedisInstance } from '@hocuspocus/extension-redis'
import { Redis as IORedis } from 'ioredis'
import * as decoding from 'lib0/decoding'
import * as encoding from 'lib0/encoding'
import { applyAwarenessUpdate } from 'y-protocols/awareness'
import client from 'prom-client'
import { carriesUpdate, isEmptyUpdate, parseFrame } from '../server/frames.ts'
import type { Logger } from '../server/log.ts'
import type { Metrics } from '../server/metrics.ts'

export interface RedisSyncConfig {
  url: string
  /** This instance's name (INSTANCE_ID); a random suffix keeps two equal names apart. */
  instanceId: string
  metrics: Metrics
  log: Logger
  /**
   * REDIS_KEY_PREFIX: starts every channel, so unrelated deployments can share one Redis
   * (default `homeroom:`; a trailing colon is optional).
   */
  prefix?: string
  /** The kind of store beside Redis: instances must share one (PostgreSQL). */
  store?: 'sqlite' | 'postgres'
}

export const DEFAULT_PREFIX = 'homeroom:'

/** The wrapped extension's `prefix` for a REDIS_KEY_PREFIX: it adds the colon itself. */
export const redisNamespace = (prefix: string): string => (prefix.endsWith(':') ? prefix.slice(0, -1) : prefix)

/** Longest wait for the wrapped extension to subscribe and hear from peers while loading a document. */
const LOAD_SYNC_TIMEOUT_MS = 5000
/** Wait after a failed publish before announcing the document instead. */
const ANNOUNCE_DELAY_MS = 100
/** At most one gap request per document in this window. */
const GAP_REQUEST_INTERVAL_MS = 500

export class RedisSync implements Extension {
  readonly extensionName = 'redis'
  /** Below Guard (500) and Persistence (100): only accepted, journaled updates are published. */
  readonly priority = 50
  readonly identifier: string
  private readonly config: RedisSyncConfig
  private readonly prefix: string
  private readonly pub: IORedis
  private readonly sub: IORedis
  /** The wrapped extension, created once both connections are first ready. */
  private inner?: HocuspocusRedis
  private instance?: Hocuspocus
  private up = false
  private everUp = false
  /** When the current outage began, and whether it was logged and counted yet. */
  private downSince = Date.now()
  private reported = false
  /** Documents unloaded while Redis was away: their channels are left once it returns. */
  private readonly unsubscribeLater = new Set<string>()
  /** Documents that asked their peers for a gap recently. */
  private readonly gapRequests = new Set<string>()
  private readonly meters

  constructor(config: RedisSyncConfig) {
    this.config = config
    this.prefix = redisNamespace(config.prefix ?? DEFAULT_PREFIX)
    this.identifier = `${config.instanceId}-${randomUUID().slice(0, 8)}`
    if (config.store === 'sqlite') {
      config.log.warn('REDIS_URL without DATABASE_URL: every instance journals to its own SQLite file, so a document an instance loads later misses what the others stored; set DATABASE_URL when several instances run')
    }
    const registers = [config.metrics.registry]
    this.meters = {
      up: new client.Gauge({ name: 'homeroom_redis_up', help: '1 while both Redis connections are ready', registers }),
      outages: new client.Counter({ name: 'homeroom_redis_outages_total', help: 'Times Redis became unreachable', registers }),
      resynced: new client.Counter({ name: 'homeroom_redis_resynced_documents_total', help: 'Documents re-announced after Redis returned', registers }),
      published: new client.Counter({ name: 'homeroom_redis_published_bytes_total', help: 'Bytes published to Redis', registers }),
      received: new client.Counter({ name: 'homeroom_redis_received_bytes_total', help: 'Bytes received from Redis subscriptions', registers }),
      gaps: new client.Counter({ name: 'homeroom_redis_gap_requests_total', help: 'SyncStep1 requests sent because a peer update arrived with a gap', registers }),
    }
    const options = {
      // Fail fast instead of queueing while disconnected: a queued subscribe would hang document loads.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      connectTimeout: 2000,
      retryStrategy: (attempt: number) => Math.min(100 * attempt, 1000),
    }
    this.pub = new IORedis(config.url, options)
    this.sub = new IORedis(config.url, options)
    this.countPublishedBytes()
    this.sub.on('messageBuffer', (_channel: Buffer, data: Buffer) => {
      this.meters.received.inc(data.byteLength)
      const message = this.fromPeer(data)
      if (!message) return
      if (message.type === MessageType.Awareness) this.applyDepartures(message.name, message.decoder)
      // Runs before the wrapped extension applies the message: look for a gap once it has.
      setImmediate(() => this.checkForGap(message.name))
    })
    for (const connection of [this.pub, this.sub]) {
      connection.on('ready', () => this.connectionReady())
      connection.on('close', () => this.connectionLost())
      connection.on('error', (error: Error) => this.connectionError(error))
    }
  }

  async onConfigure({ instance }: onConfigurePayload): Promise<void> {
    this.instance = instance
    await this.inner?.onConfigure({ instance } as onConfigurePayload)
  }

  async afterLoadDocument(payload: afterLoadDocumentPayload): Promise<void> {
    this.unsubscribeLater.delete(payload.documentName)
    if (!this.up || !this.inner) return
    // Subscribes, announces our state and waits briefly for a peer's; on failure the document
    // still opens from storage, and the resync on Redis' return catches it up.
    await this.guard('load', payload.documentName, withTimeout(this.inner.afterLoadDocument(payload), LOAD_SYNC_TIMEOUT_MS))
  }

  /**
   * Publishes a client's update once it is accepted and journaled, before it is applied. The
   * command is written to the Redis socket right here (ioredis writes synchronously while
   * connected), so it leaves the process before the acknowledgement does; Redis' reply is not
   * awaited, which would add a round trip to every keystroke of this instance's own clients.
   */
  async beforeHandleMessage({ update, documentName, connection }: beforeHandleMessagePayload): Promise<void> {
    if (!this.up || connection.readOnly) return
    const frame = parseFrame(update)
    if (!carriesUpdate(frame) || isEmptyUpdate(frame.payload)) return
    void this.publishOrAnnounce(documentName, this.publishUpdate(documentName, frame.payload))
  }

  /** Publishes the server's own writes; client updates were published before they were applied. */
  async onChange({ documentName, update, transactionOrigin: origin }: onChangePayload): Promise<void> {
    if (!this.up || (isTransactionOrigin(origin) && (origin.source === 'connection' || origin.source === 'redis'))) return
    await this.publishOrAnnounce(documentName, this.publishUpdate(documentName, update))
  }

  /**
   * A lost publish while Redis is up would leave peers behind until the next gap: announce the
   * document's state vector a moment later instead, so peers ask for what they lack.
   */
  private async publishOrAnnounce(documentName: string, publishing: Promise<unknown>): Promise<void> {
    try {
      await publishing
    } catch (error) {
      this.config.metrics.observerErrors.inc({ where: 'redis-publish' })
      this.config.log.warn({ err: error, doc: documentName }, 'publishing an update to Redis failed; announcing the document instead')
      setTimeout(() => this.announce(documentName), ANNOUNCE_DELAY_MS).unref()
    }
  }

  /** Publishes a loaded document's state vector; peers answer with what we lack and ask for what they lack. */
  private announce(documentName: string): void {
    const document = this.instance?.documents.get(documentName)
    if (!this.up || !document) return
    this.publish(documentName, new OutgoingMessage(documentName).createSyncMessage().writeFirstSyncStepFor(document)).catch((error) =>
      this.config.log.warn({ err: error, doc: documentName }, 'announcing a document to Redis failed; it resyncs when Redis reconnects'),
    )
  }

  async onAwarenessUpdate(payload: onAwarenessUpdatePayload): Promise<void> {
    // Presence that came from a peer is not sent back (the wrapped extension would echo it).
    if (!this.up || (isTransactionOrigin(payload.transactionOrigin) && payload.transactionOrigin.source === 'redis')) return
    const { documentName, added, updated, removed, awareness } = payload
    // The wrapped extension drops what is pending once the last local client has left, so peers
    // would show a departed client until its presence times out (30 s): departures go out here.
    if (removed.length > 0) {
      await this.guard('awareness', documentName, this.publish(documentName, new OutgoingMessage(documentName).createAwarenessUpdateMessage(awareness, removed)))
    }
    if (added.length + updated.length > 0) await this.guard('awareness', documentName, this.inner?.onAwarenessUpdate({ ...payload, removed: [] }))
  }

  async beforeBroadcastStateless(payload: beforeBroadcastStatelessPayload): Promise<void> {
    if (this.up) await this.guard('stateless', payload.documentName, this.inner?.beforeBroadcastStateless(payload))
  }

  /** Gives in-flight sync messages a moment before the document leaves memory. */
  async beforeUnloadDocument(payload: beforeUnloadDocumentPayload): Promise<void> {
    if (this.up) await this.inner?.beforeUnloadDocument(payload)
  }

  async afterUnloadDocument(payload: afterUnloadDocumentPayload): Promise<void> {
    if (payload.instance.documents.has(payload.documentName)) return
    if (this.up && this.inner) await this.guard('unload', payload.documentName, this.inner.afterUnloadDocument(payload))
    else this.unsubscribeLater.add(payload.documentName)
  }

  async onDestroy(): Promise<void> {
    this.up = false
    this.pub.disconnect(false)
    this.sub.disconnect(false)
  }

  private async guard(what: string, documentName: string, work: Promise<unknown> | undefined): Promise<void> {
    try {
      await work
    } catch (error) {
      this.config.metrics.observerErrors.inc({ where: `redis-${what}` })
      this.config.log.warn({ err: error, doc: documentName }, `Redis ${what} failed; the document resyncs when Redis is reachable`)
    }
  }

  private connectionReady(): void {
    if (this.up || this.pub.status !== 'ready' || this.sub.status !== 'ready') return
    if (!this.inner) {
      const connections = [this.pub, this.sub]
      this.inner = new HocuspocusRedis({
        identifier: this.identifier,
        prefix: this.prefix,
        createClient: () => connections.shift() as unknown as RedisInstance,
      })
      if (this.instance) void this.inner.onConfigure({ instance: this.instance } as onConfigurePayload)
    }
    this.up = true
    this.reported = false
    this.meters.up.set(1)
    const outageMs = Date.now() - this.downSince
    if (this.everUp) this.config.log.warn({ outageMs }, 'Redis is back; resynchronising loaded documents')
    else this.config.log.info({ identifier: this.identifier }, 'joined the other instances through Redis')
    this.everUp = true
    void this.resync().catch((error) => this.config.log.warn({ err: error }, 'Redis resync failed; retried when Redis reconnects'))
  }

  private connectionLost(): void {
    if (!this.up) return
    this.up = false
    this.downSince = Date.now()
    this.meters.up.set(0)
    this.reportOutage()
  }

  /** ioredis reports every failed reconnection attempt; one log line per outage is enough. */
  private connectionError(error: Error): void {
    if (this.up) this.config.log.debug({ err: error }, 'Redis connection error')
    else this.reportOutage(error)
  }

  private reportOutage(error?: Error): void {
    if (this.reported) return
    this.reported = true
    this.meters.outages.inc()
    this.config.log.error({ err: error }, 'Redis unreachable: serving local clients only until it returns')
  }

  /** A peer's message: document name, type, and a decoder at its payload; undefined for our own or a malformed one. */
  private fromPeer(data: Buffer): { name: string; type: number; decoder: decoding.Decoder } | undefined {
    try {
      const decoder = decoding.createDecoder(data)
      const sender = Buffer.from(decoding.readUint8Array(decoder, decoding.readUint8(decoder))).toString()
      if (sender === this.identifier) return undefined
      return { name: decoding.readVarString(decoder), type: decoding.readVarUint(decoder), decoder }
    } catch {
      return undefined
    }
  }

  /**
   * Hocuspocus rebuilds incoming awareness from the states left after applying it, so a peer's
   * departures (null states) are lost on the way in and its clients would linger for 30 s.
   * Departures are applied here instead.
   */
  private applyDepartures(name: string, decoder: decoding.Decoder): void {
    const document = this.instance?.documents.get(name)
    if (!document) return
    try {
      const update = decoding.createDecoder(decoding.readVarUint8Array(decoder))
      const departures: Array<[number, number]> = []
      for (let n = decoding.readVarUint(update); n > 0; n--) {
        const client = decoding.readVarUint(update)
        const clock = decoding.readVarUint(update)
        if (decoding.readVarString(update) === 'null') departures.push([client, clock])
      }
      if (departures.length === 0) return
      const encoder = encoding.createEncoder()
      encoding.writeVarUint(encoder, departures.length)
      for (const [client, clock] of departures) {
        encoding.writeVarUint(encoder, client)
        encoding.writeVarUint(encoder, clock)
        encoding.writeVarString(encoder, 'null')
      }
      applyAwarenessUpdate(document.awareness, encoding.toUint8Array(encoder), { source: 'redis' })
    } catch (error) {
      this.config.log.warn({ err: error, doc: name }, 'malformed awareness message from Redis')
    }
  }

  /** Asks the peers for what a document lacks when a message from Redis left it with pending structs. */
  private checkForGap(name: string): void {
    const document = this.instance?.documents.get(name)
    if (!this.up || !document || (document.store.pendingStructs === null && document.store.pendingDs === null) || this.gapRequests.has(name)) return
    this.gapRequests.add(name)
    setTimeout(() => this.gapRequests.delete(name), GAP_REQUEST_INTERVAL_MS).unref()
    this.meters.gaps.inc()
    this.announce(name)
  }

  /** Re-subscribes every loaded document and announces its state and presence to the peers. */
  private async resync(): Promise<void> {
    const documents = [...(this.instance?.documents.values() ?? [])]
    if (this.unsubscribeLater.size > 0) {
      await this.sub.unsubscribe(...[...this.unsubscribeLater].map((name) => this.channel(name)))
      this.unsubscribeLater.clear()
    }
    // Our reply channel first: peers answer the SyncStep1s below there.
    await this.sub.subscribe(this.replyChannel(), ...documents.map((d) => this.channel(d.name)))
    for (const document of documents) {
      const messages = [new OutgoingMessage(document.name).createSyncMessage().writeFirstSyncStepFor(document), new OutgoingMessage(document.name).writeQueryAwareness()]
      if (document.getConnectionsCount() > 0 && document.awareness.getStates().size > 0) {
        messages.push(new OutgoingMessage(document.name).createAwarenessUpdateMessage(document.awareness))
      }
      await Promise.all(messages.map((message) => this.publish(document.name, message)))
    }
    if (documents.length === 0) return
    this.meters.resynced.inc(documents.length)
    this.config.log.info({ documents: documents.length }, 'documents resynchronised through Redis')
  }

  private publishUpdate(documentName: string, update: Uint8Array): Promise<number> {
    return this.publish(documentName, new OutgoingMessage(documentName).createSyncMessage().writeUpdate(update))
  }

  /** Publishes in the wrapped extension's framing: identifier length, identifier, message. */
  private publish(documentName: string, message: OutgoingMessage): Promise<number> {
    const id = Buffer.from(this.identifier)
    return this.pub.publish(this.channel(documentName), Buffer.concat([Buffer.from([id.length]), id, Buffer.from(message.toUint8Array())]))
  }

  /** A document's channel, named as the wrapped extension names it. */
  private channel(documentName: string): string {
    return `${this.prefix}:${documentName}`
  }

  /** This instance's reply channel, named as the wrapped extension names it. */
  private replyChannel(): string {
    return `${this.prefix}#reply:${this.identifier}`
  }

  /** Counts every byte this instance publishes, for the metrics and the cluster benchmark. */
  private countPublishedBytes(): void {
    const publish = this.pub.publish.bind(this.pub) as (channel: string | Buffer, message: string | Buffer) => Promise<number>
    this.pub.publish = ((channel: string | Buffer, message: string | Buffer) => {
      this.meters.published.inc(typeof message === 'string' ? Buffer.byteLength(message) : message.byteLength)
      return publish(channel, message)
    }) as IORedis['publish']
  }
}

function withTimeout(work: Promise<unknown>, ms: number): Promise<unknown> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer from Redis within ${ms} ms`)), ms)
  })
  work.catch(() => {})
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer))
}
