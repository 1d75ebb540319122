// Configuration: read from the environment once at start-up, validated, typed.
import { createPrivateKey, createPublicKey } from 'node:crypto'
import { z } from 'zod'

export class ConfigError extends Error {
  readonly variable: string
  constructor(variable: string, problem: string) {
    super(`${variable}: ${problem}`)
    this.variable = variable
  }
}

const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max)
const flag = z.enum(['0', '1', 'true', 'false']).transform((v) => v === '1' || v === 'true')
/** Seconds, or a number with a unit: `90`, `90s`, `15m`, `8h`, `1d`. */
const duration = z
  .string()
  .regex(/^\d+[smhd]?$/, 'must be seconds or a number with s, m, h or d')
  .transform((v) => Number.parseInt(v, 10) * ({ s: 1, m: 60, h: 3600, d: 86400 }[v.at(-1)!] ?? 1))
  .or(z.number().int())
  .pipe(z.number().int().min(60, 'must be at least a minute').max(366 * 86400, 'must be at most a year'))
const url = (schemes: string[]) =>
  z.string().refine((v) => {
    try {
      return schemes.includes(new URL(v).protocol)
    } catch {
      return false
    }
  }, `must be a ${schemes.join(' or ')} URL`)

/** Every variable Homeroom reads, with its default. The README's table mirrors this. */
const schema = z.object({
  PORT: int(0, 65535).default(8400),
  HOST: z.string().min(1).default('0.0.0.0'),
  DATA_DIR: z.string().min(1).default('./data'),
  DATABASE_URL: url(['postgres:', 'postgresql:']).optional(),
  PG_POOL_SIZE: int(1, 200).default(10),
  REDIS_URL: url(['redis:', 'rediss:']).optional(),
  JWT_SECRET: z.string().min(16, 'must be at least 16 characters').optional(),
  JWT_PUBLIC_KEY: z.string().includes('BEGIN PUBLIC KEY', { message: 'must be a PEM public key' }).optional(),
  JWT_PRIVATE_KEY: z.string().includes('PRIVATE KEY', { message: 'must be a PEM private key' }).optional(),
  JWT_ISSUER: z.string().min(1).optional(),
  JWT_AUDIENCE: z.string().min(1).optional(),
  SERVICE_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  PLAYGROUND: flag.default(false),
  PLAYGROUND_PUBLIC: flag.default(false),
  CORS_ORIGINS: z.string().default(''),
  TRUST_PROXY: z.string().min(1).default('false'),
  WS_PING_INTERVAL_MS: int(1000, 600_000).default(15_000),
  WS_PING_TIMEOUT_MS: int(1000, 3_600_000).default(30_000),
  REDIS_KEY_PREFIX: z.string().regex(/^[A-Za-z0-9_.:-]{0,64}$/, 'letters, digits and _ . : - only, at most 64').default('homeroom:'),
  INSTANCE_ID: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/).optional(),
  MAX_MESSAGE_BYTES: int(1024, 64 * 1024 * 1024).default(2 * 1024 * 1024),
  MAX_MESSAGES_PER_SEC: int(1, 100000).default(200),
  MAX_CONNECTIONS_PER_USER: int(1, 100000).default(20),
  MAX_QUEUED_BYTES: int(64 * 1024, 1024 * 1024 * 1024).default(8 * 1024 * 1024),
  MAX_CLIENTS_PER_DOCUMENT: int(1, 1_000_000).default(500),
  MAX_DOCS_PER_CONNECTION: int(1, 100000).default(100),
  MAX_AWARENESS_BYTES: int(64, 1024 * 1024).default(8192),
  MAX_AWARENESS_PER_SEC: int(1, 1000).default(20),
  MAX_FILE_BYTES: int(1, 1024 * 1024 * 1024).default(10 * 1024 * 1024),
  MAX_HTTP_REQUESTS_PER_SEC: int(1, 100000).default(50),
  MAX_TOKEN_TTL: duration.default(24 * 3600),
  MAX_OPENS_PER_SEC: int(1, 100000).default(50),
  MAX_VALUE_DEPTH: int(2, 64).default(16),
  MAX_VALUE_BYTES: int(256, 64 * 1024 * 1024).default(256 * 1024),
  MAX_UPDATE_STRUCTS: int(100, 10_000_000).default(20_000),
  MAX_STRUCTS_PER_SEC: int(100, 10_000_000).default(100_000),
  MAX_DOC_BYTES: int(64 * 1024, 4 * 1024 * 1024 * 1024).default(64 * 1024 * 1024),
  SNAPSHOT_EVERY: int(1, 1_000_000).default(500),
  CLOCK_SKEW_S: int(1, 86400).default(300),
  INBOX_RETENTION_DAYS: int(1, 36500).default(90),
  CHAT_RETENTION_DAYS: int(1, 36500).default(365),
  BUS_TRAIL_RETENTION_DAYS: int(1, 36500).default(30),
  CLAIMS_RETENTION_DAYS: int(1, 36500).default(7),
  CLAIMS_LEASE_MS: int(200, 3_600_000).default(15_000),
  HEARTBEAT_INTERVAL_MS: int(100, 600_000).default(5000),
  BUS_STALE_AFTER_S: int(5, 86400).default(120),
  EMERGENCY_ESCALATE_AFTER_S: int(1, 86400).default(300),
  EMERGENCY_MAX_ESCALATIONS: int(0, 100).default(3),
  ALERT_WEBHOOK_URL: url(['http:', 'https:']).optional(),
  ALERT_WEBHOOK_SECRET: z.string().min(8).optional(),
  // Events in and out (docs/integration.md)
  EVENTS_STREAM: z.string().min(1).max(200).optional(),
  EVENTS_DEAD_LETTER_STREAM: z.string().min(1).max(200).optional(),
  EVENTS_MAX_ATTEMPTS: int(1, 100).default(5),
  EVENTS_RETRY_MS: int(10, 600_000).default(1000),
  EVENTS_CLAIM_AFTER_MS: int(100, 3_600_000).default(30_000),
  EVENTS_OUT_STREAM: z.string().min(1).max(200).optional(),
  EVENTS_OUT_MAXLEN: int(100, 100_000_000).default(100_000),
  EVENTS_WEBHOOK_URL: url(['http:', 'https:']).optional(),
  EVENTS_WEBHOOK_SECRET: z.string().min(8).optional(),
  EVENTS_WEBHOOK_ATTEMPTS: int(1, 100).default(10),
  EVENTS_WEBHOOK_RETRY_MS: int(10, 600_000).default(1000),
  UNDELIVERED_AFTER_S: int(5, 7 * 86400).default(300),
  SCHOOL_TIMEZONE: z
    .string()
    .refine((zone) => {
      try {
        new Intl.DateTimeFormat('en-US', { timeZone: zone })
        return true
      } catch {
        return false
      }
    }, 'must be an IANA time zone such as Europe/Berlin')
    .default('UTC'),
})

type Env = z.infer<typeof schema>

export interface Config {
  port: number
  host: string
  dataDir: string
  databaseUrl?: string
  pgPoolSize: number
  redisUrl?: string
  jwt: {
    secret?: string
    publicKey?: string
    privateKey?: string
    issuer?: string
    audience?: string
    /** Longest lifetime (`exp - iat`) a token may have, in seconds. */
    maxTtlS: number
  }
  serviceToken?: string
  logLevel: Env['LOG_LEVEL']
  playground: boolean
  /** Serve `POST /playground/token` to non-loopback callers too. */
  playgroundPublic: boolean
  http: {
    /** Origins allowed by CORS (exact `scheme://host[:port]`, or `*`); empty: none. */
    corsOrigins: string[]
    /** Fastify's trustProxy: true, false, or the addresses/CIDRs of trusted proxies. */
    trustProxy: boolean | string
  }
  websocket: { pingIntervalMs: number; pingTimeoutMs: number }
  /** Prefix of every Redis key and channel, so environments sharing one Redis stay apart. */
  redisKeyPrefix: string
  instanceId: string
  limits: {
    maxMessageBytes: number
    messagesPerSec: number
    connectionsPerUser: number
    /** Bytes a socket over its message rate may have waiting (reads paused) before it is closed. */
    queuedBytes: number
    /** Connections one document may have at once; more are refused with `full:`. */
    clientsPerDocument: number
    docsPerConnection: number
    awarenessBytes: number
    /** Awareness updates per second and connection; more are dropped. */
    awarenessPerSec: number
    fileBytes: number
    httpRequestsPerSec: number
    /** Document opening attempts per second, per user and per socket (bursts of twice that). */
    opensPerSec: number
    /** Deepest nesting of arrays and objects inside one value. */
    valueDepth: number
    /** Largest encoded value (map entry, array element) in bytes. */
    valueBytes: number
    /** New structs one update may carry. */
    updateStructs: number
    /** New structs per second per connection (bursts of twice that). */
    structsPerSec: number
    /** Largest size a document may grow to, in bytes of its encoded state. */
    docBytes: number
    /** How far a client-written `at` may be from the server's clock, either way. */
    clockSkewS: number
  }
  snapshotEvery: number
  /** The schools' time zone: where leaderboard weeks (Monday 00:00) and months begin. */
  schoolTimeZone: string
  retention: { chatDays: number; busTrailDays: number; inboxDays: number }
  /**
   * Side effects claimed across instances (store claims): a claim's holder renews its lease while
   * working; one whose lease ran out undone is taken over. Done claims are pruned after retentionDays.
   */
  claims: { leaseMs: number; retentionDays: number }
  /** How often each instance refreshes its heartbeat row (and `s/system/status` its figures); one silent for three is not alive. */
  heartbeatIntervalMs: number
  bus: { staleAfterS: number }
  emergency: { escalateAfterS: number; maxEscalations: number; webhookUrl?: string; webhookSecret?: string }
  events: {
    /** The Redis stream events are consumed from (with REDIS_URL), its consumer group's dead letters, and the retry policy. */
    stream: string
    deadLetterStream: string
    maxAttempts: number
    /** Wait before the first retry of a failed event; each further retry waits twice as long. */
    retryMs: number
    /** Entries a consumer holds unacknowledged this long (it crashed) are claimed by another. */
    claimAfterMs: number
    /** The Redis stream outbound events are added to, trimmed to about `outMaxLen` entries. */
    outStream: string
    outMaxLen: number
    webhookUrl?: string
    webhookSecret?: string
    /** Events webhook deliveries wait in the store's outbox: attempts in all, and the wait before the first retry (doubling, at most 15 minutes). */
    webhookAttempts: number
    webhookRetryMs: number
    /** An urgent or high inbox item no client of its recipient received this long fires `notification.undelivered`. */
    undeliveredAfterS: number
  }
}

/** A bad value as it may be printed: secrets never, URLs without their credentials. */
function shown(variable: string, value: string | undefined): string {
  if (value === undefined) return 'nothing'
  if (/SECRET|TOKEN$|KEY$/.test(variable)) return `${value.length} characters`
  if (variable.endsWith('_URL')) return JSON.stringify(value.replace(/\/\/[^@/]*@/, '//…@').slice(0, 60))
  return JSON.stringify(value.slice(0, 60))
}

/** JWT keys must parse, and be RSA or EC (for RS256 / ES256). */
function checkKey(variable: string, keyType: () => string | undefined): void {
  let type: string | undefined
  try {
    type = keyType()
  } catch {
    throw new ConfigError(variable, 'is not a valid PEM key')
  }
  if (type !== 'rsa' && type !== 'ec') throw new ConfigError(variable, `key type ${type} is not supported; use RSA (RS256) or EC P-256 (ES256)`)
}

/** Several bad variables at once; each is one line of the message. */
export class ConfigErrors extends ConfigError {
  readonly problems: ConfigError[]
  constructor(problems: ConfigError[]) {
    super(problems[0].variable, problems[0].message.slice(problems[0].variable.length + 2))
    this.problems = problems
    this.message = problems.map((p) => p.message).join('\n')
  }
}

/** Parses the environment; throws ConfigError naming the bad variable (ConfigErrors when several are bad). */
export function loadConfig(env: Record<string, string | undefined> = process.env, defaults: Partial<Record<keyof Env, string>> = {}): Config {
  const input: Record<string, string> = {}
  for (const key of Object.keys(schema.shape)) {
    const value = env[key] ?? defaults[key as keyof Env]
    if (value !== undefined && value !== '') input[key] = value
  }
  const parsed = schema.safeParse(input)
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => {
      const variable = String(issue.path[0])
      return new ConfigError(variable, `${issue.message} (got ${shown(variable, input[variable])})`)
    })
    throw problems.length === 1 ? problems[0] : new ConfigErrors(problems)
  }
  const e = parsed.data
  if (e.JWT_SECRET && e.JWT_PUBLIC_KEY) throw new ConfigError('JWT_PUBLIC_KEY', 'set either JWT_SECRET or JWT_PUBLIC_KEY, not both')
  if (e.JWT_PRIVATE_KEY && !e.JWT_PUBLIC_KEY) throw new ConfigError('JWT_PRIVATE_KEY', 'needs JWT_PUBLIC_KEY beside it')
  if (e.JWT_PUBLIC_KEY) checkKey('JWT_PUBLIC_KEY', () => createPublicKey(e.JWT_PUBLIC_KEY!).asymmetricKeyType)
  if (e.JWT_PRIVATE_KEY) checkKey('JWT_PRIVATE_KEY', () => createPrivateKey(e.JWT_PRIVATE_KEY!).asymmetricKeyType)
  return {
    port: e.PORT,
    host: e.HOST,
    dataDir: e.DATA_DIR,
    databaseUrl: e.DATABASE_URL,
    pgPoolSize: e.PG_POOL_SIZE,
    redisUrl: e.REDIS_URL,
    jwt: { secret: e.JWT_SECRET, publicKey: e.JWT_PUBLIC_KEY, privateKey: e.JWT_PRIVATE_KEY, issuer: e.JWT_ISSUER, audience: e.JWT_AUDIENCE, maxTtlS: e.MAX_TOKEN_TTL },
    serviceToken: e.SERVICE_TOKEN,
    logLevel: e.LOG_LEVEL,
    playground: e.PLAYGROUND,
    playgroundPublic: e.PLAYGROUND_PUBLIC,
    http: {
      corsOrigins: e.CORS_ORIGINS.split(',').map((o) => o.trim()).filter(Boolean),
      trustProxy: e.TRUST_PROXY === 'true' || e.TRUST_PROXY === '1' ? true : e.TRUST_PROXY === 'false' || e.TRUST_PROXY === '0' ? false : e.TRUST_PROXY,
    },
    websocket: { pingIntervalMs: e.WS_PING_INTERVAL_MS, pingTimeoutMs: e.WS_PING_TIMEOUT_MS },
    redisKeyPrefix: e.REDIS_KEY_PREFIX,
    instanceId: e.INSTANCE_ID ?? `${process.pid}`,
    limits: {
      maxMessageBytes: e.MAX_MESSAGE_BYTES,
      messagesPerSec: e.MAX_MESSAGES_PER_SEC,
      connectionsPerUser: e.MAX_CONNECTIONS_PER_USER,
      queuedBytes: e.MAX_QUEUED_BYTES,
      clientsPerDocument: e.MAX_CLIENTS_PER_DOCUMENT,
      docsPerConnection: e.MAX_DOCS_PER_CONNECTION,
      awarenessBytes: e.MAX_AWARENESS_BYTES,
      awarenessPerSec: e.MAX_AWARENESS_PER_SEC,
      fileBytes: e.MAX_FILE_BYTES,
      httpRequestsPerSec: e.MAX_HTTP_REQUESTS_PER_SEC,
      opensPerSec: e.MAX_OPENS_PER_SEC,
      valueDepth: e.MAX_VALUE_DEPTH,
      valueBytes: e.MAX_VALUE_BYTES,
      updateStructs: e.MAX_UPDATE_STRUCTS,
      structsPerSec: e.MAX_STRUCTS_PER_SEC,
      docBytes: e.MAX_DOC_BYTES,
      clockSkewS: e.CLOCK_SKEW_S,
    },
    snapshotEvery: e.SNAPSHOT_EVERY,
    schoolTimeZone: e.SCHOOL_TIMEZONE,
    retention: { chatDays: e.CHAT_RETENTION_DAYS, busTrailDays: e.BUS_TRAIL_RETENTION_DAYS, inboxDays: e.INBOX_RETENTION_DAYS },
    claims: { leaseMs: e.CLAIMS_LEASE_MS, retentionDays: e.CLAIMS_RETENTION_DAYS },
    heartbeatIntervalMs: e.HEARTBEAT_INTERVAL_MS,
    bus: { staleAfterS: e.BUS_STALE_AFTER_S },
    emergency: {
      escalateAfterS: e.EMERGENCY_ESCALATE_AFTER_S,
      maxEscalations: e.EMERGENCY_MAX_ESCALATIONS,
      webhookUrl: e.ALERT_WEBHOOK_URL,
      webhookSecret: e.ALERT_WEBHOOK_SECRET,
    },
    events: {
      stream: e.EVENTS_STREAM ?? `${e.REDIS_KEY_PREFIX}events`,
      deadLetterStream: e.EVENTS_DEAD_LETTER_STREAM ?? `${e.EVENTS_STREAM ?? `${e.REDIS_KEY_PREFIX}events`}:dead`,
      maxAttempts: e.EVENTS_MAX_ATTEMPTS,
      retryMs: e.EVENTS_RETRY_MS,
      claimAfterMs: e.EVENTS_CLAIM_AFTER_MS,
      outStream: e.EVENTS_OUT_STREAM ?? `${e.REDIS_KEY_PREFIX}events-out`,
      outMaxLen: e.EVENTS_OUT_MAXLEN,
      webhookUrl: e.EVENTS_WEBHOOK_URL,
      webhookSecret: e.EVENTS_WEBHOOK_SECRET,
      webhookAttempts: e.EVENTS_WEBHOOK_ATTEMPTS,
      webhookRetryMs: e.EVENTS_WEBHOOK_RETRY_MS,
      undeliveredAfterS: e.UNDELIVERED_AFTER_S,
    },
  }
}

/** Where configuration is read from and its problems reported: the process, or a test running the command in-process. */
export interface ConfigTarget {
  env: Record<string, string | undefined>
  stderr: { write(chunk: string): unknown }
  exit(code: number): never
}

export const processTarget: ConfigTarget = { env: process.env, stderr: process.stderr, exit: (code) => process.exit(code) }

/** Parses configuration or exits with code 2 and one line naming the variable. */
export function configOrExit(defaults: Parameters<typeof loadConfig>[1] = {}, target: ConfigTarget = processTarget): Config {
  try {
    return loadConfig(target.env, defaults)
  } catch (error) {
    if (error instanceof ConfigError) {
      const problems = error instanceof ConfigErrors ? error.problems : [error]
      for (const problem of problems) target.stderr.write(`homeroom: bad configuration: ${problem.message}\n`)
      target.exit(2)
    }
    throw error
  }
}
