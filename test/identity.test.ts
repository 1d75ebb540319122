// Token verification: signatures, claims, keys, and lifetimes (every token must carry `exp`, and
// live at most MAX_TOKEN_TTL), checked directly and over real connections and HTTP; and the
// minting paths (`homeroom token`, the playground) keeping within that maximum.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { generateKeyPairSync } from 'node:crypto'
import { rmSync } from 'node:fs'
import { decodeJwt } from 'jose'
import { loadConfig } from '../server/config.ts'
import { Identities, type Claims } from '../server/identity.ts'
import { mintToken, mintTokenWithTimes, nowS, TEST_SECRET, teacher, unsignedToken } from './helpers/tokens.ts'
import { startServer, tempDir, type TestServer } from './helpers/server.ts'
import { closeClients, connect, DEADLINE_MS, within } from './helpers/clients.ts'
import { api } from './helpers/api.ts'
import { runCli } from './helpers/cli.ts'
import { closeYClients, connectY } from './helpers/ywebsocket.ts'

const config = (env: Record<string, string> = {}) => loadConfig({ DATA_DIR: tempDir(), JWT_SECRET: TEST_SECRET, ...env })

async function refusal(identities: Identities, token: string): Promise<string> {
  try {
    await identities.verify(token)
  } catch (error) {
    return (error as { reason: string }).reason
  }
  throw new Error('token was accepted')
}

test('a valid HS256 token yields the normalised identity', async () => {
  const identities = new Identities(config())
  const user = await identities.verify(await mintToken(teacher('t1', { classes: ['7a'] })))
  assert.equal(user, { sub: 't1', name: 't1', role: 'teacher', schools: ['s1'], classes: ['7a'], children: [], buses: [] })
})

test('alg none, expired, wrongly signed and malformed tokens are refused as unauthenticated', async () => {
  const identities = new Identities(config())
  assert.match(await refusal(identities, unsignedToken(teacher())), /^unauthenticated: /)
  assert.match(await refusal(identities, await mintToken(teacher(), { ttl: Math.floor(Date.now() / 1000) - 10 })), /^unauthenticated: token expired/)
  assert.match(await refusal(identities, await mintToken(teacher(), { secret: 'another-secret-that-is-long' })), /^unauthenticated: bad signature/)
  assert.match(await refusal(identities, 'not.a.token'), /^unauthenticated: /)
  assert.match(await refusal(identities, await mintToken({ sub: 'x', role: 'janitor', schools: ['s1'] } as never)), /^unauthenticated: claim role/)
  assert.match(await refusal(identities, await mintToken({ sub: 'x', role: 'teacher', schools: ['*'] })), /^unauthenticated: claim/)
})

test('issuer and audience are checked when configured', async () => {
  const identities = new Identities(config({ JWT_ISSUER: 'district', JWT_AUDIENCE: 'homeroom' }))
  assert.match(await refusal(identities, await mintToken(teacher())), /^unauthenticated: claim iss/)
  const minted = await identities.mint(teacher())
  assert.is((await identities.verify(minted)).sub, 't1')
})

test('RS256 and ES256 public keys verify tokens signed by their private keys', async () => {
  for (const type of ['rsa', 'ec'] as const) {
    const pair = type === 'rsa' ? generateKeyPairSync('rsa', { modulusLength: 2048 }) : generateKeyPairSync('ec', { namedCurve: 'P-256' })
    const env = {
      JWT_PUBLIC_KEY: pair.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
      JWT_PRIVATE_KEY: pair.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    }
    const identities = new Identities(loadConfig({ DATA_DIR: tempDir(), ...env }))
    const token = await identities.mint(teacher())
    assert.is((await identities.verify(token)).role, 'teacher')
    assert.match(await refusal(identities, await mintToken(teacher())), /^unauthenticated: signing algorithm not allowed/)
  }
})

test('the service token stands for role service', async () => {
  const identities = new Identities(config({ SERVICE_TOKEN: 'svc-token-0123456789' }))
  assert.is((await identities.verify('svc-token-0123456789')).role, 'service')
})

test('without a configured key a secret is generated once and kept in DATA_DIR', async () => {
  const dir = tempDir()
  const first = new Identities(loadConfig({ DATA_DIR: dir }))
  const token = await first.mint(teacher())
  const second = new Identities(loadConfig({ DATA_DIR: dir }))
  assert.is((await second.verify(token)).sub, 't1')
})

const NO_EXP = 'unauthenticated: token has no exp'
const tooLong = (maxS: number) => `unauthenticated: token lifetime exceeds MAX_TOKEN_TTL (${maxS} s)`
const admin = (sub = 'a1'): Claims => ({ sub, role: 'admin', schools: ['s1'] })

/** What a real provider client is told when opening a document with `token`: the refusal reason, or 'synced'. */
async function openingWith(server: TestServer, token: string): Promise<string> {
  const client = connect(server.url, 's1/doc/lifetimes', token)
  return within(Promise.race([client.refused, client.synced.then(() => 'synced')]), DEADLINE_MS, 'refusal or sync')
}

/** What `GET /api/v1/stats` answers to `Authorization: Bearer <token>`: status and error message. */
async function statsWith(server: TestServer, token: string): Promise<{ status: number; message?: string }> {
  const response = await api(server, 'GET', '/api/v1/stats', { token })
  return { status: response.status, message: response.json?.error?.message }
}

test('a token without exp is refused, directly, over the provider and over HTTP', async () => {
  const noExp = await mintTokenWithTimes(admin(), { iat: nowS() })
  assert.is(await refusal(new Identities(config()), noExp), NO_EXP)
  const server = await startServer()
  try {
    assert.is(await openingWith(server, noExp), NO_EXP)
    assert.equal(await statsWith(server, noExp), { status: 401, message: NO_EXP })
    assert.equal(await within(connectY(server.url, 's1/doc/lifetimes', noExp).closed, DEADLINE_MS, 'y-websocket refusal'), { code: 4401, reason: NO_EXP })
    // Nor does leaving out iat as well help.
    assert.is(await openingWith(server, await mintTokenWithTimes(admin(), {})), NO_EXP)
  } finally {
    closeClients()
    closeYClients()
    await server.stop()
  }
})

test('a token living longer than MAX_TOKEN_TTL (24h by default) is refused, counted from iat or else from now', async () => {
  const identities = new Identities(config())
  const now = nowS()
  assert.is(await refusal(identities, await mintTokenWithTimes(teacher(), { iat: now, exp: now + 25 * 3600 })), tooLong(86400))
  // Issued an hour ago for 24h and 30 minutes: 23.5h left, but its lifetime is still too long.
  assert.is(await refusal(identities, await mintTokenWithTimes(teacher(), { iat: now - 3600, exp: now + 23.5 * 3600 })), tooLong(86400))
  assert.is((await identities.verify(await mintTokenWithTimes(teacher(), { iat: now, exp: now + 24 * 3600 }))).sub, 't1')
  // Without iat, what is left from now counts.
  assert.is(await refusal(identities, await mintTokenWithTimes(teacher(), { exp: now + 25 * 3600 })), tooLong(86400))
  assert.is((await identities.verify(await mintTokenWithTimes(teacher(), { exp: now + 23 * 3600 }))).sub, 't1')
  // An iat in the future cannot stretch the time a token stays valid from now.
  const farIat = now + 365 * 86400
  assert.is(await refusal(identities, await mintTokenWithTimes(teacher(), { iat: farIat, exp: farIat + 3600 })), tooLong(86400))
})

test('with MAX_TOKEN_TTL=1h an 8h token is refused over the provider and HTTP, a 30m one accepted; the service token is unaffected', async () => {
  const SERVICE_TOKEN = 'service-token-0123456789abcdef'
  const server = await startServer({ MAX_TOKEN_TTL: '1h', SERVICE_TOKEN })
  try {
    const now = nowS()
    const eightHours = await mintTokenWithTimes(admin(), { iat: now, exp: now + 8 * 3600 })
    assert.is(await openingWith(server, eightHours), tooLong(3600))
    assert.equal(await statsWith(server, eightHours), { status: 401, message: tooLong(3600) })
    const halfHour = await mintToken(admin(), { ttl: '30m' })
    assert.is(await openingWith(server, halfHour), 'synced')
    assert.is((await statsWith(server, halfHour)).status, 200)
    assert.is((await statsWith(server, SERVICE_TOKEN)).status, 200)
  } finally {
    closeClients()
    await server.stop()
  }
})

test('homeroom token refuses a --ttl above MAX_TOKEN_TTL, and by default mints within it', async () => {
  const dataDir = tempDir()
  const base = ['token', '--sub', 't1', '--role', 'teacher', '--schools', 's1']
  const lifetimeOf = (token: string) => {
    const { iat, exp } = decodeJwt(token)
    return exp! - iat!
  }
  try {
    const tooLongTtl = await runCli(dataDir, [...base, '--ttl', '30d'])
    assert.is(tooLongTtl.code, 2)
    assert.is(tooLongTtl.stdout, '')
    assert.match(tooLongTtl.stderr, /^homeroom token: --ttl: token lifetime 30d \(2592000 s\) is longer than MAX_TOKEN_TTL allows \(1d \(86400 s\)\): the server would refuse it\n$/)

    const defaults = await runCli(dataDir, base)
    assert.is(defaults.code, 0, defaults.stderr)
    assert.is(lifetimeOf(defaults.stdout.trim()), 8 * 3600)

    const short = { MAX_TOKEN_TTL: '1h' }
    const refused = await runCli(dataDir, [...base, '--ttl', '8h'], short)
    assert.is(refused.code, 2)
    assert.match(refused.stderr, /longer than MAX_TOKEN_TTL allows \(1h \(3600 s\)\)/)
    const capped = await runCli(dataDir, base, short)
    assert.is(capped.code, 0, capped.stderr)
    assert.is(lifetimeOf(capped.stdout.trim()), 3600)
    assert.is((await new Identities(config({ MAX_TOKEN_TTL: '1h' })).verify(capped.stdout.trim())).sub, 't1')

    const malformed = await runCli(dataDir, [...base, '--ttl', 'forever'])
    assert.is(malformed.code, 2)
    assert.match(malformed.stderr, /--ttl: token lifetime forever: must be seconds or a number/)
  } finally {
    rmSync(dataDir, { recursive: true, force: true })
  }
})

test('the playground mints dev tokens within MAX_TOKEN_TTL, and the server accepts them', async () => {
  const server = await startServer({ PLAYGROUND: '1', MAX_TOKEN_TTL: '1h' })
  try {
    const minted = await api(server, 'POST', '/playground/token', { json: { school: 's1', sub: 't1', role: 'teacher' } })
    assert.is(minted.status, 200)
    const { iat, exp } = decodeJwt(minted.json.token)
    assert.is(exp! - iat!, 3600)
    assert.is(await openingWith(server, minted.json.token), 'synced')
  } finally {
    closeClients()
    await server.stop()
  }
})

test.run()
