// Joining the other instances through Redis: documents are subscribed while loaded, what peers
// publish is applied (origin {source: 'redis'}, which persistence does not journal again), a
// document syncs its state with its peers when it loads, and presence and stateless messages
// travel too. The messages and channels are in wire.ts, the connections and outages in health.ts.
//
// - A client's update is published to the document's channel right after the guard accepted it
//   and persistence journaled it, before Hocuspocus applies and acknowledges it. So every
//   acknowledged update has reached Redis: an instance killed right after acknowledging loses
//   nothing for the peers. (The stock @hocuspocus/extension-redis instead announces each change
//   with a SyncStep1 one event-loop turn later and sends the update only when a peer asks back:
//   1.5 round trips, each answer carrying the whole delete set.) Server writes (observers,
//   tools) are published as they happen.
// - Redis down: publishing is skipped (there is no one to deliver to) and documents load from
//   storage alone.
// - Redis back: every loaded document is subscribed again and announces its state vector (a
//   SyncStep1). A peer answers with what we lack plus its own SyncStep1, which we answer with
//   what it lacks: both directions heal, deletions included. Pub/sub drops whatever was sent
//   while a subscriber was away, so this resync is what makes an outage lossless.
// - A gap while Redis stays up (an update that needs one this instance never received, e.g. one
//   published while it was subscribing) leaves pending structs in the document: the instance
//   then asks its peers with a SyncStep1 instead of waiting for an outage to heal it.
// - No store lock: snapshots are compacted from the shared journal and written idempotently, so
//   two instances snapshotting together is harmless, while a lock that is lost or unreachable
//   would silently skip the store chain. So Homeroom keeps no keys in Redis, only channels.
import { randomUUID } from 'node:crypto'
import type {
  afterLoadDocumentPayload,
  afterUnloadDocumentPayload,
  beforeBroadcastStatelessPayload,
  beforeHandleMessagePayload,
  beforeUnloadDocumentPayload,
  Document,
  Extension,
  Hocuspocus,
  onAwarenessUpdatePayload,
  onChangePayload,
  onConfigurePayload,
  RedisTransactionOrigin,
} from '@hocuspocus/server'
import { MessageType } from '@hocuspocus/server'
import * as decoding from 'lib0/decoding'
import * as encoding from 'lib0/encoding'
import client from 'prom-client'
import { applyAwarenessUpdate } from 'y-protocols/awareness'
import { messageYjsSyncStep1, readSyncMessage } from 'y-protocols/sync'
import { carriesUpdate, isEmptyUpdate, parseFrame } from '../../server/frames.ts'
import type { Logger } from '../../server/log.ts'
import type { Metrics } from '../../server/metrics.ts'
import { RedisHealth } from './health.ts'
import { EXTENSION_PRIORITY } from '../priorities.ts'
import { sourceOf } from '../../server/origin.ts'
import { DEFAULT_PREFIX, documentChannel, FrameWriter, readFrame, redisNamespace, replyChannel, SIGNAL_MESSAGE, type Frame } from './wire.ts'

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

/** Longest a document load waits on Redis (subscribing, announcing, a peer's answer). */
const LOAD_SYNC_TIMEOUT_MS = 5000
/** Longest a loading document waits for a peer holding it to send what it has. */
const PEER_ANSWER_TIMEOUT_MS = 1000
/** Wait before a document leaves memory, so in-flight sync messages still reach it. */
const UNLOAD_DELAY_MS = 1000
/** Wait after a failed publish before announcing the document instead. */
const ANNOUNCE_DELAY_MS = 100
/** At most one gap request per document in this window. */
const GAP_REQUEST_INTERVAL_MS = 500

const FROM_REDIS: RedisTransactionOrigin = { source: 'redis' }

/** Awareness changes of one document, collected over one event-loop turn. */
interface PendingAwareness {
  document: Document
  clients: Set<number>
  handle: NodeJS.Immediate
}

export class RedisSync implements Extension {
  readonly extensionName = 'redis'
  /** After the guard and persistence (extensions/priorities.ts): only accepted, journaled updates are published. */
  readonly priority = EXTENSION_PRIORITY.redis
  readonly identifier: string
  private readonly config: RedisSyncConfig
  private readonly namespace: string
  private readonly health: RedisHealth
  private readonly frames: FrameWriter
  private instance?: Hocuspocus
  /**
   * Documents subscribed through a load, including those still loading: Hocuspocus adds a
   * document to `instance.documents` only once loading is over, and a peer's answer to the
   * load's SyncStep1 arrives before that.
   */
  private readonly documents = new Map<string, Document>()
  /** Loads waiting for a peer's state, by document. */
  private readonly peerAnswers = new Map<string, () => void>()
  /** The reply channel's subscription: a load announces itself only once answers can arrive. */
  private replySubscribed: Promise<unknown> = Promise.reject(new Error('Redis not connected yet'))
  private readonly pendingAwareness = new Map<string, PendingAwareness>()
  /** Documents unloaded while Redis was away: their channels are left once it returns. */
  private readonly unsubscribeLater = new Set<string>()
  /** Documents that asked their peers for a gap recently. */
  private readonly gapRequests = new Set<string>()
  private readonly meters
  private signalHandler?: (document: Document, to: string, message: string) => void

  constructor(config: RedisSyncConfig) {
    this.config = config
    this.namespace = redisNamespace(config.prefix ?? DEFAULT_PREFIX)
    this.identifier = `${config.instanceId}-${randomUUID().slice(0, 8)}`
    this.frames = new FrameWriter(this.identifier)
    this.replySubscribed.catch(() => {})
    if (config.store === 'sqlite') {
      config.log.warn('REDIS_URL without DATABASE_URL: every instance journals to its own SQLite file, so a document an instance loads later misses what the others stored; set DATABASE_URL when several instances run')
    }
    const registers = [config.metrics.registry]
    this.meters = {
      resynced: new client.Counter({ name: 'homeroom_redis_resynced_documents_total', help: 'Documents re-announced after Redis returned', registers }),
      published: new client.Counter({ name: 'homeroom_redis_published_bytes_total', help: 'Bytes published to Redis', registers }),
      received: new client.Counter({ name: 'homeroom_redis_received_bytes_total', help: 'Bytes received from Redis subscriptions', registers }),
      gaps: new client.Counter({ name: 'homeroom_redis_gap_requests_total', help: 'SyncStep1 requests sent because a peer update arrived with a gap', registers }),
    }
    this.health = new RedisHealth(config.url, this.identifier, config.log, config.metrics)
    this.health.sub.on('messageBuffer', (channel: Buffer, data: Buffer) => this.receive(channel, data))
    this.health.on('up', () => void this.resync().catch((error) => config.log.warn({ err: error }, 'Redis resync failed; retried when Redis reconnects')))
  }

  async onConfigure({ instance }: onConfigurePayload): Promise<void> {
    this.instance = instance
  }

  async afterLoadDocument({ documentName, document }: afterLoadDocumentPayload): Promise<void> {
    this.unsubscribeLater.delete(documentName)
    if (!this.health.up) return
    // On failure the document still opens from storage, and the resync on Redis' return catches it up.
    await this.guard('load', documentName, withTimeout(this.join(documentName, document), LOAD_SYNC_TIMEOUT_MS))
  }

  /**
   * Publishes a client's update once it is accepted and journaled, before it is applied. The
   * command is written to the Redis socket right here (ioredis writes synchronously while
   * connected), so it leaves the process before the acknowledgement does; Redis' reply is not
   * awaited, which would add a round trip to every keystroke of this instance's own clients.
   */
  async beforeHandleMessage({ update, documentName, connection }: beforeHandleMessagePayload): Promise<void> {
    if (!this.health.up || connection.readOnly) return
    const frame = parseFrame(update)
    if (!carriesUpdate(frame) || isEmptyUpdate(frame.payload)) return
    void this.publishOrAnnounce(documentName, this.publish(documentName, this.frames.update(documentName, frame.payload)))
  }

  /** Publishes the server's own writes; client updates were published before they were applied. */
  async onChange({ documentName, update, transactionOrigin: origin }: onChangePayload): Promise<void> {
    if (!this.health.up || sourceOf(origin) !== 'server') return
    await this.publishOrAnnounce(documentName, this.publish(documentName, this.frames.update(documentName, update)))
  }

  async onAwarenessUpdate({ documentName, document, added, updated, removed, awareness, transactionOrigin }: onAwarenessUpdatePayload): Promise<void> {
    // Presence that came from a peer is not sent back.
    if (!this.health.up || sourceOf(transactionOrigin) === 'peer') return
    // Departures go out at once: a peer would otherwise show a departed client until its
    // presence times out (30 s) whenever the last local client left within the turn.
    if (removed.length > 0) await this.guard('awareness', documentName, this.publish(documentName, this.frames.awareness(documentName, awareness, removed)))
    // Hocuspocus 4.7 fails to encode awareness of a document nobody is connected to (hocuspocus#1027).
    if (added.length + updated.length === 0 || document.connections.size === 0) return
    let pending = this.pendingAwareness.get(documentName)
    if (pending && pending.document !== document) {
      // Reloaded under the same name: what was collected describes the previous document.
      this.cancelAwareness(documentName)
      pending = undefined
    }
    if (!pending) {
      pending = { document, clients: new Set(), handle: setImmediate(() => void this.flushAwareness(documentName)) }
      this.pendingAwareness.set(documentName, pending)
    }
    for (const clientId of [...added, ...updated]) pending.clients.add(clientId)
  }

  async beforeBroadcastStateless({ documentName, payload }: beforeBroadcastStatelessPayload): Promise<void> {
    if (this.health.up) await this.guard('stateless', documentName, this.publish(documentName, this.frames.broadcastStateless(documentName, payload)))
  }

  /**
   * Sends a signaling message to user `to`'s connections to the document on the other instances
   * (the sender relayed it to its own). Nothing is sent while Redis is away: signaling is live,
   * and a screen share that misses a message starts again.
   */
  async signal(documentName: string, to: string, message: string): Promise<void> {
    if (this.health.up) await this.guard('signal', documentName, this.publish(documentName, this.frames.signal(documentName, to, message)))
  }

  /** Where signals from the other instances go (one handler: the signaling extension's). */
  onSignal(handler: (document: Document, to: string, message: string) => void): void {
    this.signalHandler = handler
  }

  async beforeUnloadDocument(_payload: beforeUnloadDocumentPayload): Promise<void> {
    if (this.health.up) await new Promise((resolve) => setTimeout(resolve, UNLOAD_DELAY_MS))
  }

  async afterUnloadDocument({ instance, documentName }: afterUnloadDocumentPayload): Promise<void> {
    // Loaded again meanwhile (a fast reconnect): it stays subscribed.
    if (instance.documents.has(documentName)) return
    this.peerAnswers.get(documentName)?.()
    this.documents.delete(documentName)
    this.cancelAwareness(documentName)
    if (this.health.up) void this.guard('unload', documentName, this.health.sub.unsubscribe(this.channel(documentName)))
    else this.unsubscribeLater.add(documentName)
  }

  async onDestroy(): Promise<void> {
    for (const documentName of [...this.pendingAwareness.keys()]) this.cancelAwareness(documentName)
    this.health.close()
  }

  /** Subscribes a loading document, announces it, and waits briefly for a peer holding it to answer. */
  private async join(documentName: string, document: Document): Promise<void> {
    this.documents.set(documentName, document)
    try {
      await this.replySubscribed
      await this.health.sub.subscribe(this.channel(documentName))
      const peers = await this.hasPeers(documentName)
      await Promise.all([
        this.publish(documentName, this.frames.syncStep1(documentName, document)),
        this.publish(documentName, this.frames.queryAwareness(documentName)),
      ])
      // The answer cannot arrive before the SyncStep1 above is delivered, so waiting from here misses none.
      if (peers) await this.peerAnswer(documentName)
    } catch (error) {
      this.documents.delete(documentName)
      this.peerAnswers.delete(documentName)
      this.health.sub.unsubscribe(this.channel(documentName)).catch(() => {})
      throw error
    }
  }

  /** Whether another instance is subscribed to a document (we are too); assumed so when Redis cannot tell. */
  private async hasPeers(documentName: string): Promise<boolean> {
    try {
      const [, count] = (await this.health.pub.pubsub('NUMSUB', this.channel(documentName))) as [string, number | string]
      return Number(count ?? 0) > 1
    } catch {
      return true
    }
  }

  private peerAnswer(documentName: string): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer)
        this.peerAnswers.delete(documentName)
        resolve()
      }
      const timer = setTimeout(done, PEER_ANSWER_TIMEOUT_MS)
      this.peerAnswers.set(documentName, done)
    })
  }

  private receive(channel: Buffer, data: Buffer): void {
    this.meters.received.inc(data.byteLength)
    const frame = readFrame(data)
    if (!frame || frame.sender === this.identifier) return
    const document = this.documents.get(frame.documentName) ?? this.instance?.documents.get(frame.documentName)
    if (!document) return
    try {
      this.apply(frame, document, channel.toString() === this.replyChannel())
    } catch (error) {
      this.config.log.warn({ err: error, doc: frame.documentName }, 'malformed message from Redis')
    }
    this.checkForGap(frame.documentName, document)
  }

  /** Applies a peer's message and answers it on the peer's reply channel (see wire.ts). */
  private apply({ sender, documentName, type, decoder }: Frame, document: Document, addressedToUs: boolean): void {
    switch (type) {
      case MessageType.Sync:
      case MessageType.SyncReply: {
        const answer = this.frames.start(documentName, MessageType.Sync)
        if (readSyncMessage(decoder, answer, document, FROM_REDIS) === messageYjsSyncStep1) {
          if (type === MessageType.Sync) this.reply(sender, documentName, this.frames.syncStep1(documentName, document, MessageType.SyncReply))
          this.reply(sender, documentName, encoding.toUint8Array(answer))
        } else if (addressedToUs) {
          // State computed for our state vector: a load waiting for its peers has caught up. State
          // overheard on the document channel was computed for somebody else.
          this.peerAnswers.get(documentName)?.()
        }
        break
      }
      case MessageType.Awareness:
        // Applied as it came, departures (null states) included. Presence states were stamped by
        // the instance whose client sent them, so the presence hook has nothing to check here.
        applyAwarenessUpdate(document.awareness, decoding.readVarUint8Array(decoder), FROM_REDIS)
        break
      case MessageType.QueryAwareness:
        this.reply(sender, documentName, this.frames.awareness(documentName, document.awareness))
        break
      case MessageType.BroadcastStateless:
        // The sending instance already ran the beforeBroadcastStateless hooks.
        document.relayStateless(decoding.readVarString(decoder))
        break
      case SIGNAL_MESSAGE as MessageType: {
        const to = decoding.readVarString(decoder)
        this.signalHandler?.(document, to, decoding.readVarString(decoder))
        break
      }
    }
  }

  /** Asks the peers for what a document lacks when a message from Redis left it with pending structs. */
  private checkForGap(documentName: string, document: Document): void {
    if (!this.health.up || (document.store.pendingStructs === null && document.store.pendingDs === null) || this.gapRequests.has(documentName)) return
    this.gapRequests.add(documentName)
    setTimeout(() => this.gapRequests.delete(documentName), GAP_REQUEST_INTERVAL_MS).unref()
    this.meters.gaps.inc()
    this.announce(documentName)
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
    const document = this.documents.get(documentName) ?? this.instance?.documents.get(documentName)
    if (!this.health.up || !document) return
    this.publish(documentName, this.frames.syncStep1(documentName, document)).catch((error) =>
      this.config.log.warn({ err: error, doc: documentName }, 'announcing a document to Redis failed; it resyncs when Redis reconnects'),
    )
  }

  private async flushAwareness(documentName: string): Promise<void> {
    const pending = this.pendingAwareness.get(documentName)
    if (!pending) return
    this.pendingAwareness.delete(documentName)
    if (!this.health.up || pending.document.connections.size === 0) return
    await this.guard('awareness', documentName, this.publish(documentName, this.frames.awareness(documentName, pending.document.awareness, [...pending.clients])))
  }

  private cancelAwareness(documentName: string): void {
    const pending = this.pendingAwareness.get(documentName)
    if (!pending) return
    clearImmediate(pending.handle)
    this.pendingAwareness.delete(documentName)
  }

  /** Subscribes every loaded document again and announces its state and presence to the peers. */
  private async resync(): Promise<void> {
    const documents = [...(this.instance?.documents.values() ?? [])]
    // Our reply channel first: peers answer the SyncStep1s below there.
    this.replySubscribed = this.health.sub.subscribe(this.replyChannel(), ...documents.map((d) => this.channel(d.name)))
    await this.replySubscribed
    if (this.unsubscribeLater.size > 0) {
      await this.health.sub.unsubscribe(...[...this.unsubscribeLater].map((name) => this.channel(name)))
      this.unsubscribeLater.clear()
    }
    for (const document of documents) {
      const messages = [this.frames.syncStep1(document.name, document), this.frames.queryAwareness(document.name)]
      if (document.getConnectionsCount() > 0 && document.awareness.getStates().size > 0) messages.push(this.frames.awareness(document.name, document.awareness))
      await Promise.all(messages.map((message) => this.publish(document.name, message)))
    }
    if (documents.length === 0) return
    this.meters.resynced.inc(documents.length)
    this.config.log.info({ documents: documents.length }, 'documents resynchronised through Redis')
  }

  private async guard(what: string, documentName: string, work: Promise<unknown>): Promise<void> {
    try {
      await work
    } catch (error) {
      this.config.metrics.observerErrors.inc({ where: `redis-${what}` })
      this.config.log.warn({ err: error, doc: documentName }, `Redis ${what} failed; the document resyncs when Redis is reachable`)
    }
  }

  private publish(documentName: string, frame: Uint8Array): Promise<number> {
    return this.send(this.channel(documentName), frame)
  }

  /** Answers go to the asking instance alone: a SyncStep2 computed for one state vector would mislead the others (hocuspocus#1151). */
  private reply(sender: string, documentName: string, frame: Uint8Array): void {
    this.send(replyChannel(this.namespace, sender), frame).catch((error) =>
      this.config.log.warn({ err: error, doc: documentName }, 'answering a peer through Redis failed; it resyncs when Redis is reachable'),
    )
  }

  private send(channel: string, frame: Uint8Array): Promise<number> {
    this.meters.published.inc(frame.byteLength)
    return this.health.pub.publish(channel, Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength))
  }

  private channel(documentName: string): string {
    return documentChannel(this.namespace, documentName)
  }

  private replyChannel(): string {
    return replyChannel(this.namespace, this.identifier)
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
