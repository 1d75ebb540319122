// Prometheus metrics (prom-client), one registry per server instance.
import * as map from 'lib0/map'
import client from 'prom-client'

export class Metrics {
  readonly registry = new client.Registry()
  readonly connections = new client.Gauge({ name: 'homeroom_connections', help: 'Open document connections', registers: [this.registry] })
  readonly sockets = new client.Gauge({ name: 'homeroom_sockets', help: 'Open WebSocket connections', registers: [this.registry] })
  readonly documents = new client.Gauge({ name: 'homeroom_documents_loaded', help: 'Documents held in memory', registers: [this.registry] })
  readonly messages = new client.Counter({
    name: 'homeroom_messages_total',
    help: 'Messages received from clients, by kind',
    labelNames: ['kind'],
    registers: [this.registry],
  })
  readonly messagesDelayed = new client.Counter({
    name: 'homeroom_messages_delayed_total',
    help: 'Messages held back because their socket was over MAX_MESSAGES_PER_SEC (its reads paused meanwhile)',
    registers: [this.registry],
  })
  readonly refusals = new client.Counter({
    name: 'homeroom_refusals_total',
    help: 'Refused connections and messages, by reason code',
    labelNames: ['reason'],
    registers: [this.registry],
  })
  readonly journalAppend = new client.Histogram({
    name: 'homeroom_journal_append_seconds',
    help: 'Time to append one update to the journal',
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 0.5],
    registers: [this.registry],
  })
  readonly snapshotBytes = new client.Histogram({
    name: 'homeroom_snapshot_bytes',
    help: 'Size of written snapshots',
    buckets: [100, 1e3, 1e4, 1e5, 1e6, 1e7],
    registers: [this.registry],
  })
  readonly storeFailures = new client.Counter({
    name: 'homeroom_store_failures_total',
    help: 'Failed storage operations (each is logged and retried)',
    labelNames: ['op'],
    registers: [this.registry],
  })
  readonly journalQuarantined = new client.Counter({
    name: 'homeroom_journal_quarantined_total',
    help: 'Journal entries set aside because they cannot be read (see homeroom docs verify / repair)',
    registers: [this.registry],
  })
  readonly observerErrors = new client.Counter({
    name: 'homeroom_observer_errors_total',
    help: 'Errors caught in observers and hooks',
    labelNames: ['where'],
    registers: [this.registry],
  })
  readonly connectionRtt = new client.Histogram({
    name: 'homeroom_connection_rtt_seconds',
    help: 'Round trip of the WebSocket pings the server sends every WS_PING_INTERVAL_MS',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  })
  // Events in (docs/integration.md)
  readonly eventsProcessed = new client.Counter({
    name: 'homeroom_events_processed_total',
    help: 'Events received and delivered, by source (stream, http) and outcome (new, duplicate: an id received before)',
    labelNames: ['source', 'outcome'],
    registers: [this.registry],
  })
  readonly eventsFailed = new client.Counter({
    name: 'homeroom_events_failed_total',
    help: 'Failed attempts to deliver a stream event (each is retried, or dead-lettered after EVENTS_MAX_ATTEMPTS)',
    registers: [this.registry],
  })
  readonly eventsDeadLettered = new client.Counter({
    name: 'homeroom_events_dead_lettered_total',
    help: 'Stream events moved to the dead-letter stream, by reason (bad-event, conflict, attempts)',
    labelNames: ['reason'],
    registers: [this.registry],
  })
  readonly eventsLag = new client.Gauge({
    name: 'homeroom_events_lag',
    help: 'Entries of the events stream no consumer of the group has read yet',
    registers: [this.registry],
  })
  readonly eventsPending = new client.Gauge({
    name: 'homeroom_events_pending',
    help: 'Entries of the events stream read by a consumer and not yet acknowledged',
    registers: [this.registry],
  })
  readonly eventsOut = new client.Counter({
    name: 'homeroom_events_out_total',
    help: 'Outbound events published (once cluster-wide), by type',
    labelNames: ['type'],
    registers: [this.registry],
  })
  readonly eventsOutFailed = new client.Counter({
    name: 'homeroom_events_out_failures_total',
    help: 'Outbound events that could not be published (Redis or the store unreachable), by type',
    labelNames: ['type'],
    registers: [this.registry],
  })

  /** Messages received so far, and the rate over the last sampling window. */
  messageCount = 0
  private sample = { at: Date.now(), count: 0, rate: 0 }
  /** `messages` per kind, looked up once: labelling a counter hashes its labels at every call. */
  private readonly messagesOfKind = new Map<number, client.Counter.Internal>()

  /** One message received from a client, of `kind` (a Hocuspocus message type). */
  countMessage(kind: number): void {
    map.setIfUndefined(this.messagesOfKind, kind, () => this.messages.labels(String(kind))).inc()
    this.messageCount++
  }

  messageRate(now = Date.now()): number {
    const elapsed = (now - this.sample.at) / 1000
    if (elapsed >= 5) this.sample = { at: now, count: this.messageCount, rate: (this.messageCount - this.sample.count) / elapsed }
    return Math.round(this.sample.rate * 10) / 10
  }

  constructor() {
    client.collectDefaultMetrics({ register: this.registry, eventLoopMonitoringPrecision: 20 })
  }

  /** Counts a refusal by the code before the colon of its reason (`forbidden: …` → `forbidden`). */
  refuse(reason: string): void {
    this.refusals.inc({ reason: reason.split(':')[0].slice(0, 40) })
  }
}
