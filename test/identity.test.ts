import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { generateKeyPairSync } from 'node:crypto'
import { loadConfig } from '../server/config.ts'
import { Identities } from '../server/identity.ts'
import { mintToken, TEST_SECRET, teacher, unsignedToken } from './helpers/tokens.ts'
import { tempDir } from './helpers/server.ts'

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

test.run()
