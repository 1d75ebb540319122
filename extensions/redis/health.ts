// The two Redis connections (publish, subscribe) and whether both are ready. Redis down, at start
// or later, is an outage: logged once and counted, while the instance keeps serving its own
// clients. Commands never queue while Redis is away, so nothing waits on it. `up` is emitted
// whenever both connections are ready again; sync.ts resynchronises its documents then.
import { Redis as IORedis } from 'ioredis'
import { ObservableV2 } from 'lib0/observable'
import client from 'prom-client'
import type { Logger } from '../../server/log.ts'
import type { Metrics } from '../../server/metrics.ts'

const CONNECTION_OPTIONS = {
  // Fail fast instead of queueing while disconnected: a queued subscribe would hang document loads.
  enableOfflineQueue: false,
  maxRetriesPerRequest: 1,
  connectTimeout: 2000,
  retryStrategy: (attempt: number) => Math.min(100 * attempt, 1000),
}

export class RedisHealth extends ObservableV2<{ up: () => void }> {
  readonly pub: IORedis
  readonly sub: IORedis
  private isUp = false
  private everUp = false
  /** When the current outage began, and whether it was logged and counted yet. */
  private downSince = Date.now()
  private reported = false
  private readonly meters

  constructor(url: string, identifier: string, log: Logger, metrics: Metrics) {
    super()
    const registers = [metrics.registry]
    this.meters = {
      up: new client.Gauge({ name: 'homeroom_redis_up', help: '1 while both Redis connections are ready', registers }),
      outages: new client.Counter({ name: 'homeroom_redis_outages_total', help: 'Times Redis became unreachable', registers }),
    }
    this.pub = new IORedis(url, CONNECTION_OPTIONS)
    this.sub = new IORedis(url, CONNECTION_OPTIONS)
    for (const connection of [this.pub, this.sub]) {
      connection.on('ready', () => this.ready(identifier, log))
      connection.on('close', () => this.lost(log))
      // ioredis reports every failed reconnection attempt; one log line per outage is enough.
      connection.on('error', (error: Error) => (this.isUp ? log.debug({ err: error }, 'Redis connection error') : this.reportOutage(log, error)))
    }
  }

  get up(): boolean {
    return this.isUp
  }

  close(): void {
    this.isUp = false
    this.pub.disconnect(false)
    this.sub.disconnect(false)
  }

  private ready(identifier: string, log: Logger): void {
    if (this.isUp || this.pub.status !== 'ready' || this.sub.status !== 'ready') return
    this.isUp = true
    this.reported = false
    this.meters.up.set(1)
    if (this.everUp) log.warn({ outageMs: Date.now() - this.downSince }, 'Redis is back; resynchronising loaded documents')
    else log.info({ identifier }, 'joined the other instances through Redis')
    this.everUp = true
    this.emit('up', [])
  }

  private lost(log: Logger): void {
    if (!this.isUp) return
    this.isUp = false
    this.downSince = Date.now()
    this.meters.up.set(0)
    this.reportOutage(log)
  }

  private reportOutage(log: Logger, error?: Error): void {
    if (this.reported) return
    this.reported = true
    this.meters.outages.inc()
    log.error({ err: error }, 'Redis unreachable: serving local clients only until it returns')
  }
}
