// Opening rules over real connections: tokens, names, schools, read rules, read-only connections.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { startServer, type TestServer } from './helpers/server.ts'
import { closeClients, connect, within } from './helpers/clients.ts'
import { mintToken, student, teacher, unsignedToken } from './helpers/tokens.ts'
import type { Claims } from '../server/identity.ts'

let server: TestServer
test.before(async () => {
  server = await startServer()
})
test.after.each(closeClients)
test.after(async () => {
  await server.stop()
})

async function refusalFor(name: string, token: string): Promise<string> {
  const client = connect(server.url, name, token)
  try {
    return await within(client.refused, 5000, `refusal of ${name}`)
  } finally {
    client.destroy()
  }
}

async function opens(name: string, claims: Claims): Promise<boolean> {
  const client = connect(server.url, name, await mintToken(claims))
  try {
    const outcome = await within(Promise.race([client.synced.then(() => true), client.refused.then(() => false)]), 5000, `opening ${name}`)
    return outcome
  } finally {
    client.destroy()
  }
}

test('bad tokens are refused with unauthenticated', async () => {
  assert.match(await refusalFor('s1/doc/d1', unsignedToken(teacher())), /^unauthenticated/)
  assert.match(await refusalFor('s1/doc/d1', await mintToken(teacher(), { ttl: 1 })), /^unauthenticated: token expired/)
  assert.match(await refusalFor('s1/doc/d1', 'garbage'), /^unauthenticated/)
})

test('malformed names, unknown surfaces and other schools are refused', async () => {
  const token = await mintToken(teacher())
  assert.match(await refusalFor('s1/doc', token), /^bad-name/)
  assert.match(await refusalFor('s1/doc/has space', token), /^bad-name/)
  assert.match(await refusalFor('s1/spaceship/1', token), /^unknown-surface/)
  assert.match(await refusalFor('s1/poll/p1/vote/u1', token), /^unknown-surface/)
  assert.match(await refusalFor('s2/doc/d1', token), /^forbidden/)
})

test('read rules decide who may open each surface', async () => {
  assert.ok(await opens('s1/doc/d1', student()))
  assert.not.ok(await opens('s1/doc/d1', { sub: 'p1', role: 'parent', schools: ['s1'] }))
  assert.ok(await opens('s1/poll/p1/ballot/u1', student('u1')))
  assert.not.ok(await opens('s1/poll/p1/ballot/u2', student('u1')))
  assert.not.ok(await opens('s1/exam/e1/key', student()))
  assert.ok(await opens('s1/exam/e1/key', teacher()))
  assert.ok(await opens('s1/exam/e1/monitor', { sub: 'pr1', role: 'proctor', schools: ['s1'] }))
  assert.not.ok(await opens('s1/inbox/u2', student('u1')))
  assert.ok(await opens('s1/inbox/u2', { sub: 'a1', role: 'admin', schools: ['s1'] }))
  assert.ok(await opens('s1/dm/u1~t1', student('u1')))
  assert.not.ok(await opens('s1/dm/u2~t1', student('u1')))
  assert.ok(await opens('s1/bus/b1', { sub: 'd1', role: 'driver', schools: ['s1'], buses: ['b1'] }))
  assert.not.ok(await opens('s1/bus/b2', { sub: 'd1', role: 'driver', schools: ['s1'], buses: ['b1'] }))
  assert.not.ok(await opens('s1/system/status', teacher()))
  assert.ok(await opens('s1/system/status', { sub: 'dir', role: 'director', schools: ['s1', 's2'] }))
})

test('roles with no write path get read-only connections', async () => {
  const client = connect(server.url, 's1/leaderboard/math', await mintToken(student()))
  await within(client.synced, 5000, 'sync')
  assert.is(client.provider.authorizedScope, 'readonly')
  client.destroy()
  const writer = connect(server.url, 's1/doc/d1', await mintToken(student()))
  await within(writer.synced, 5000, 'sync')
  assert.is(writer.provider.authorizedScope, 'read-write')
  writer.destroy()
})

test.run()
