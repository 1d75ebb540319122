// A signed webhook: POSTs a JSON event to a URL, signed with a secret; every attempt is logged
// and counted. Two are configured: the escalation webhook (ALERT_WEBHOOK_URL / _SECRET), whose
// `send` retries in memory with exponential backoff, and the events webhook (EVENTS_WEBHOOK_URL /
// _SECRET, every outbound event: server/events/outbound.ts), whose deliveries wait in the
// store's outbox and are retried one `attempt` at a time, across restarts (server/events/outbox.ts).
//
// Headers: `X-Homeroom-Event` (event name), `X-Homeroom-Delivery` (one id per event, the same on
// every retry, so receivers can drop duplicates), `X-Homeroom-Timestamp` (ms since the epoch of
// this attempt) and, when a secret is configured, `X-Homeroom-Signature: sha256=<hex>`, the
// HMAC-SHA256 of `<timestamp>.<body>` with the secret.
import { createHmac } from 'node:crypto'
import client from 'prom-client'
import type { Logger } from './log.ts'
import type { Metrics } from './metrics.ts'

export interface WebhookOptions {
  url?: string
  secret?: string
  log: Logger
  metrics: Metrics
  /** Attempts in all, the first included. */
  attempts?: number
  /** Wait before the first retry; each further retry waits twice as long. */
  backoffMs?: number
  timeoutMs?: number
  /** The attempts counter's name: one per webhook. */
  metricName?: string
}

export function signature(secret: string, timestamp: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`
}

/** The body every attempt of one delivery sends: the same bytes each time. */
export function webhookBody(event: string, delivery: string, payload: Record<string, unknown>): string {
  return JSON.stringify({ event, delivery, ...payload })
}

export type AttemptOutcome = 'delivered' | 'retry' | 'failed'

/** Statuses worth retrying: the receiver may succeed later. Other 4xx mean the request is wrong. */
const retryable = (status: number): boolean => status >= 500 || status === 408 || status === 429

export class Webhook {
  private readonly options: Required<Omit<WebhookOptions, 'url' | 'secret' | 'metricName'>> & Pick<WebhookOptions, 'url' | 'secret'>
  private readonly deliveries: client.Counter<'outcome'>
  private stopped = false

  constructor(options: WebhookOptions) {
    const { metricName = 'homeroom_webhook_attempts_total', ...rest } = options
    this.options = { attempts: 5, backoffMs: 500, timeoutMs: 5000, ...rest }
    this.deliveries = new client.Counter({
      name: metricName,
      help: 'Webhook attempts, by outcome (delivered, retry, failed)',
      labelNames: ['outcome'],
      registers: [options.metrics.registry],
    })
  }

  /** The longest an attempt takes: its answer is awaited this long. */
  get timeoutMs(): number {
    return this.options.timeoutMs
  }

  get enabled(): boolean {
    return this.options.url !== undefined
  }

  /** Delivers one event; resolves true once the receiver answered 2xx. Never throws. */
  async send(event: string, delivery: string, payload: Record<string, unknown>): Promise<boolean> {
    const { url, log, attempts, backoffMs } = this.options
    if (!url) return false
    const body = webhookBody(event, delivery, payload)
    for (let attempt = 1; attempt <= attempts && !this.stopped; attempt++) {
      const outcome = await this.attempt(event, delivery, body, attempt)
      if (outcome === 'delivered') return true
      if (outcome === 'failed' || attempt === attempts) break
      this.deliveries.inc({ outcome })
      await new Promise((r) => setTimeout(r, backoffMs * 2 ** (attempt - 1)).unref())
    }
    this.deliveries.inc({ outcome: 'failed' })
    log.error({ event, delivery, url }, 'webhook delivery failed; giving up')
    return false
  }

  /**
   * One POST of a body made by webhookBody, signed afresh: `delivered` (2xx), `retry` (the
   * receiver may accept it later) or `failed` (it refused the request). Counts only deliveries:
   * the caller decides whether a refusal is retried. Never throws.
   */
  async attempt(event: string, delivery: string, body: string, attempt = 1): Promise<AttemptOutcome> {
    const { url, secret, log, timeoutMs } = this.options
    if (!url || this.stopped) return 'retry'
    const timestamp = String(Date.now())
    let status: number | undefined
    try {
      const response = await fetch(url, {
        method: 'POST',
        headers: {
          'Content-Type': 'application/json',
          'User-Agent': 'Homeroom-Webhook',
          'X-Homeroom-Event': event,
          'X-Homeroom-Delivery': delivery,
          'X-Homeroom-Timestamp': timestamp,
          ...(secret ? { 'X-Homeroom-Signature': signature(secret, timestamp, body) } : {}),
        },
        body,
        signal: AbortSignal.timeout(timeoutMs),
      })
      status = response.status
      await response.body?.cancel()
      if (response.ok) {
        this.deliveries.inc({ outcome: 'delivered' })
        log.info({ event, delivery, attempt, status }, 'webhook delivered')
        return 'delivered'
      }
    } catch (error) {
      log.warn({ event, delivery, attempt, err: error }, 'webhook attempt failed')
      return 'retry'
    }
    log.warn({ event, delivery, attempt, status }, 'webhook not accepted')
    return retryable(status) ? 'retry' : 'failed'
  }

  /** Counts an attempt that will be retried, or a delivery given up. */
  count(outcome: 'retry' | 'failed'): void {
    this.deliveries.inc({ outcome })
  }

  stop(): void {
    this.stopped = true
  }
}
