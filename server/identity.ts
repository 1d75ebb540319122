// Token verification and minting: HS256 with a secret, or RS256/ES256 with a key pair.
import { createPrivateKey, createPublicKey, randomBytes, type KeyObject } from 'node:crypto'
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs'
import { join } from 'node:path'
import { SignJWT, jwtVerify, errors as joseErrors, type JWTPayload } from 'jose'
import { z } from 'zod'
import { ROLES, type Identity } from '../docs-model/types.ts'
import type { Config } from './config.ts'

const id = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/)

const claimsSchema = z
  .object({
    sub: id,
    name: z.string().max(200).optional(),
    role: z.enum(ROLES),
    schools: z.array(z.union([id, z.literal('*')])).min(1).max(100),
    classes: z.array(id).max(500).optional(),
    children: z.array(id).max(100).optional(),
    buses: z.array(id).max(100).optional(),
  })
  .refine((c) => !c.schools.includes('*') || (c.role === 'service' && c.schools.length === 1), {
    message: 'schools ["*"] is only for role service',
  })

export type Claims = z.input<typeof claimsSchema>

/** A refusal while authenticating; `reason` is what the provider receives. */
export class AuthError extends Error {
  readonly reason: string
  constructor(reason: string) {
    // No message: Hocuspocus prints an error's message to the console; the reason is logged by us.
    super()
    this.reason = reason
  }
}

const SECRET_FILE = 'jwt-secret'

/** The configured HS256 secret, or the one generated once and kept in DATA_DIR. */
export function signingSecret(config: Config): string {
  if (config.jwt.secret) return config.jwt.secret
  const file = join(config.dataDir, SECRET_FILE)
  if (existsSync(file)) return readFileSync(file, 'utf8').trim()
  mkdirSync(config.dataDir, { recursive: true })
  const secret = randomBytes(32).toString('hex')
  writeFileSync(file, `${secret}\n`, { mode: 0o600, flag: 'wx' })
  return secret
}

interface Keys {
  alg: 'HS256' | 'RS256' | 'ES256'
  verifyKey: KeyObject | Uint8Array
  signKey?: KeyObject | Uint8Array
}

function keysFor(config: Config): Keys {
  if (config.jwt.publicKey) {
    const verifyKey = createPublicKey(config.jwt.publicKey)
    const alg = verifyKey.asymmetricKeyType === 'rsa' ? 'RS256' : 'ES256' // loadConfig admits only these two
    return { alg, verifyKey, signKey: config.jwt.privateKey ? createPrivateKey(config.jwt.privateKey) : undefined }
  }
  const secret = new TextEncoder().encode(signingSecret(config))
  return { alg: 'HS256', verifyKey: secret, signKey: secret }
}

/** The list of every identity without classes, children or buses: one frozen array for all of them, not three per connection. */
const NONE = Object.freeze([]) as readonly string[] as string[]

export function normalise(claims: z.output<typeof claimsSchema>): Identity {
  return {
    sub: claims.sub,
    name: claims.name ?? claims.sub,
    role: claims.role,
    schools: claims.schools,
    classes: claims.classes?.length ? claims.classes : NONE,
    children: claims.children?.length ? claims.children : NONE,
    buses: claims.buses?.length ? claims.buses : NONE,
  }
}

export const SERVICE_IDENTITY: Identity = normalise({ sub: 'service', name: 'service', role: 'service', schools: ['*'] })

/** Lifetime of minted tokens when none is asked for, unless MAX_TOKEN_TTL is shorter. */
export const DEFAULT_TOKEN_TTL_S = 8 * 3600
/** How far ahead of ours an issuer's clock may run: a later `iat` does not stretch a token's life beyond it. */
const CLOCK_SKEW_S = 60

const UNIT_S: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 }

/** A lifetime that cannot be minted: malformed, or longer than the server accepts. */
export class TtlError extends Error {}

/** Seconds of a lifetime: a whole number of seconds, or a number with s, m, h or d (`90`, `15m`, `8h`, `1d`). */
export function parseTtl(ttl: string | number): number {
  const match = typeof ttl === 'number' ? null : /^\s*(\d+)\s*([smhd]?)\s*$/.exec(ttl)
  const seconds = typeof ttl === 'number' ? ttl : match ? Number(match[1]) * (UNIT_S[match[2]] ?? 1) : Number.NaN
  if (!Number.isSafeInteger(seconds) || seconds <= 0) throw new TtlError(`token lifetime ${ttl}: must be seconds or a number with s, m, h or d (15m, 8h, 1d)`)
  return seconds
}

/** `8h (28800 s)`: a lifetime in its largest whole unit and in seconds, for messages. */
export function describeTtl(seconds: number): string {
  for (const unit of ['d', 'h', 'm'] as const) if (seconds % UNIT_S[unit] === 0) return `${seconds / UNIT_S[unit]}${unit} (${seconds} s)`
  return `${seconds} s`
}

export class Identities {
  private readonly keys: Keys
  private readonly config: Config
  /** Called with every identity a token verified to (the user directory records them); awaited. */
  onVerified?: (identity: Identity) => Promise<void>

  constructor(config: Config) {
    this.config = config
    this.keys = keysFor(config)
  }

  /** Verifies a token (or the static service token); throws AuthError `unauthenticated: …`. */
  async verify(token: string | undefined | null): Promise<Identity> {
    if (!token) throw new AuthError('unauthenticated: no token')
    if (this.config.serviceToken && token === this.config.serviceToken) return SERVICE_IDENTITY
    let payload: JWTPayload
    try {
      ;({ payload } = await jwtVerify(token, this.keys.verifyKey, {
        algorithms: [this.keys.alg],
        issuer: this.config.jwt.issuer,
        audience: this.config.jwt.audience,
        requiredClaims: ['sub'],
      }))
    } catch (error) {
      throw new AuthError(`unauthenticated: ${describe(error)}`)
    }
    checkLifetime(payload, this.config.jwt.maxTtlS)
    const claims = claimsSchema.safeParse(payload)
    if (!claims.success) {
      const issue = claims.error.issues[0]
      throw new AuthError(`unauthenticated: claim ${issue.path.join('.') || 'schools'} ${issue.message}`)
    }
    const identity = normalise(claims.data)
    await this.onVerified?.(identity)
    return identity
  }

  /** What `mint` uses without a `ttl`: 8 hours, or MAX_TOKEN_TTL when that is shorter. */
  get defaultTtlS(): number {
    return Math.min(DEFAULT_TOKEN_TTL_S, this.config.jwt.maxTtlS)
  }

  /**
   * Signs a token for these claims; `ttl` like `8h`, `15m`, `1d` or seconds. Throws TtlError for a
   * lifetime above MAX_TOKEN_TTL: `verify` would refuse that token.
   */
  async mint(claims: Claims, ttl: string | number = this.defaultTtlS): Promise<string> {
    const checked = claimsSchema.parse(claims)
    const seconds = parseTtl(ttl)
    if (seconds > this.config.jwt.maxTtlS) {
      throw new TtlError(`token lifetime ${describeTtl(seconds)} is longer than MAX_TOKEN_TTL allows (${describeTtl(this.config.jwt.maxTtlS)}): the server would refuse it`)
    }
    if (!this.keys.signKey) throw new Error('cannot mint tokens: JWT_PUBLIC_KEY is set without JWT_PRIVATE_KEY')
    // exp from the same instant as iat, so exp - iat is exactly the lifetime checked above.
    const now = Math.floor(Date.now() / 1000)
    let jwt = new SignJWT({ ...checked }).setProtectedHeader({ alg: this.keys.alg, typ: 'JWT' }).setIssuedAt(now).setExpirationTime(now + seconds)
    if (this.config.jwt.issuer) jwt = jwt.setIssuer(this.config.jwt.issuer)
    if (this.config.jwt.audience) jwt = jwt.setAudience(this.config.jwt.audience)
    return jwt.sign(this.keys.signKey)
  }
}

/**
 * Every token must end, and within MAX_TOKEN_TTL of being issued: a token without `exp` would be
 * valid forever, and a long one outlives the account it was issued for. Without `iat` the
 * lifetime counts from now; an `iat` in the future counts from now too (beyond a little clock skew),
 * or a far-future `iat` would stretch the token's remaining life without limit.
 */
function checkLifetime(payload: { exp?: unknown; iat?: unknown }, maxTtlS: number): void {
  if (typeof payload.exp !== 'number') throw new AuthError('unauthenticated: token has no exp')
  const now = Math.floor(Date.now() / 1000)
  const issued = typeof payload.iat === 'number' ? Math.min(payload.iat, now + CLOCK_SKEW_S) : now
  if (payload.exp - issued > maxTtlS) throw new AuthError(`unauthenticated: token lifetime exceeds MAX_TOKEN_TTL (${maxTtlS} s)`)
}

function describe(error: unknown): string {
  if (error instanceof joseErrors.JWTExpired) return 'token expired'
  if (error instanceof joseErrors.JOSEAlgNotAllowed) return 'signing algorithm not allowed'
  if (error instanceof joseErrors.JWSSignatureVerificationFailed) return 'bad signature'
  if (error instanceof joseErrors.JWTClaimValidationFailed) return `claim ${error.claim} ${error.reason}`
  if (error instanceof joseErrors.JOSEError) return `malformed token (${error.code})`
  return 'malformed token'
}
