// Minting tokens for tests, including the bad ones a server must refuse.
import { SignJWT } from 'jose'
import type { Claims } from '../../server/identity.ts'

export const TEST_SECRET = 'homeroom-test-secret-0123456789abcdef'

export async function mintToken(claims: Claims, options: { secret?: string; ttl?: string | number; alg?: string } = {}): Promise<string> {
  const key = new TextEncoder().encode(options.secret ?? TEST_SECRET)
  return new SignJWT({ ...claims })
    .setProtectedHeader({ alg: options.alg ?? 'HS256' })
    .setIssuedAt()
    .setExpirationTime(options.ttl ?? '1h')
    .sign(key)
}

/**
 * A token signed with the test secret whose `iat` and `exp` are exactly these, each left out when
 * not given: for tokens that never expire or live too long (seconds since the epoch).
 */
export async function mintTokenWithTimes(claims: Claims, times: { iat?: number; exp?: number }, options: { secret?: string } = {}): Promise<string> {
  const key = new TextEncoder().encode(options.secret ?? TEST_SECRET)
  let jwt = new SignJWT({ ...claims }).setProtectedHeader({ alg: 'HS256' })
  if (times.iat !== undefined) jwt = jwt.setIssuedAt(times.iat)
  if (times.exp !== undefined) jwt = jwt.setExpirationTime(times.exp)
  return jwt.sign(key)
}

/** Seconds since the epoch, as `iat` and `exp` count. */
export const nowS = (): number => Math.floor(Date.now() / 1000)

/** An unsigned token (`alg: none`) carrying the claims. */
export function unsignedToken(claims: Claims): string {
  const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')
  return `${part({ alg: 'none', typ: 'JWT' })}.${part({ ...claims, exp: Math.floor(Date.now() / 1000) + 3600 })}.`
}

const byRole = (role: Claims['role'], defaultSub: string) => (sub = defaultSub, extra: Partial<Claims> = {}): Claims => ({ sub, role, schools: ['s1'], ...extra })

/**
 * The claims of a token, by role: `claims.student('u1', { classes: ['7a'] })` is
 * `{ sub: 'u1', role: 'student', schools: ['s1'], classes: ['7a'] }`. `extra` overrides anything,
 * schools included.
 */
export const claims = {
  student: byRole('student', 'u1'),
  teacher: byRole('teacher', 't1'),
  admin: byRole('admin', 'a1'),
  parent: byRole('parent', 'p1'),
  proctor: byRole('proctor', 'pr1'),
  driver: byRole('driver', 'd1'),
  director: byRole('director', 'dir1'),
  service: byRole('service', 'svc'),
}

export const { teacher, student, admin } = claims
