// Limits: a client over a limit gets a clear reason; everyone else keeps being served.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import WebSocket from 'ws'
import { startServer, useServer } from './helpers/server.ts'
import { closeClients, connect, DEADLINE_MS, openSocket, until, within } from './helpers/clients.ts'
import { mintToken, student, teacher } from './helpers/tokens.ts'

const server = useServer({
    MAX_MESSAGE_BYTES: '4096',
    MAX_MESSAGES_PER_SEC: '20',
    MAX_CONNECTIONS_PER_USER: '2',
    MAX_DOCS_PER_CONNECTION: '2',
  })
test.after.each(closeClients)

/** A second client on the same document that must keep seeing changes. */
async function bystander(name: string) {
  const client = connect(server.url, name, await mintToken(teacher('t9')))
  await within(client.synced, DEADLINE_MS, 'bystander sync')
  return client
}

test('an oversized message closes that client with too-large; others keep working', async () => {
  const other = await bystander('s1/doc/big')
  const sender = connect(server.url, 's1/doc/big', await mintToken(teacher('t1')))
  await within(sender.synced, DEADLINE_MS, 'sync')
  sender.doc.getMap('meta').set('title', 'x'.repeat(10_000))
  assert.match(await within(sender.closed, DEADLINE_MS, 'close'), /^too-large: message of \d+ bytes exceeds 4096/)
  other.doc.getMap('meta').set('title', 'small')
  await other.acknowledged()
  const check = connect(server.url, 's1/doc/big', await mintToken(teacher('t2')))
  await within(check.synced, DEADLINE_MS, 'sync')
  assert.is(check.doc.getMap('meta').get('title'), 'small')
})

test('too many messages per second closes that client with rate-limited', async () => {
  const other = await bystander('s1/doc/rate')
  const sender = connect(server.url, 's1/doc/rate', await mintToken(teacher('t1')))
  await within(sender.synced, DEADLINE_MS, 'sync')
  for (let i = 0; i < 200; i++) sender.doc.getMap('meta').set('title', `t${i}`)
  assert.match(await within(sender.closed, DEADLINE_MS, 'close'), /^rate-limited: more than 20 messages per second/)
  other.doc.getMap('meta').set('title', 'still served')
  await other.acknowledged()
})

test('connections per user and documents per connection are bounded', async () => {
  const token = await mintToken(teacher('t5'))
  const a = connect(server.url, 's1/doc/c1', token)
  const b = connect(server.url, 's1/doc/c2', token)
  await within(Promise.all([a.synced, b.synced]), DEADLINE_MS, 'two connections')
  const c = connect(server.url, 's1/doc/c3', token)
  assert.match(await within(c.refused, DEADLINE_MS, 'third connection refused'), /^limit: at most 2 connections per user/)

  const socket = openSocket(server.url)
  const u = await mintToken(teacher('t6'))
  const first = connect(server.url, 's1/doc/m1', u, { socket })
  const second = connect(server.url, 's1/doc/m2', u, { socket })
  await within(Promise.all([first.synced, second.synced]), DEADLINE_MS, 'two documents on one socket')
  const third = connect(server.url, 's1/doc/m3', u, { socket })
  assert.match(await within(third.refused, DEADLINE_MS, 'third document refused'), /^limit: at most 2 documents per connection/)
  socket.destroy()
})

test('a malformed frame closes that client only', async () => {
  const other = await bystander('s1/doc/garbage')
  const raw = new WebSocket(server.url)
  await new Promise((r) => raw.once('open', r))
  const closed = new Promise<number>((r) => raw.once('close', (code) => r(code)))
  raw.send(Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]))
  assert.ok((await within(closed, DEADLINE_MS, 'malformed client closed')) >= 1000)
  other.doc.getMap('meta').set('title', 'after garbage')
  await other.acknowledged()
  await until(() => server.app.hocuspocus.documents.has('s1/doc/garbage'))
})

test('opening attempts are limited per socket, also those whose token does not verify', async () => {
  // One a second, bursts of two: each user below has a full burst of their own, the socket does not.
  const strict = await startServer({ MAX_OPENS_PER_SEC: '1' })
  const rate = /^forbidden: too many opening attempts, retry in a moment/
  try {
    const socket = openSocket(strict.url)
    const users = await Promise.all(['u1', 'u2', 'u3', 'u4', 'u5'].map((sub) => mintToken(student(sub))))
    const clients = users.map((token, i) => connect(strict.url, `s1/doc/socket-${i}`, token, { socket }))
    const outcomes = await within(Promise.all(clients.map((c) => Promise.race([c.synced.then(() => 'synced'), c.refused]))), DEADLINE_MS, 'five openings on one socket')
    const refused = outcomes.filter((o) => o !== 'synced')
    for (const reason of refused) assert.match(reason, rate)
    assert.ok(refused.length >= 1, 'the socket went over its rate')
    assert.ok(outcomes.includes('synced'), 'the first openings succeeded')
    socket.destroy()

    // Counted before the token is checked: bad tokens cannot be tried at the signature's speed.
    const flood = openSocket(strict.url)
    const attempts = Array.from({ length: 5 }, (_, i) => connect(strict.url, `s1/doc/flood-${i}`, 'not-a-token', { socket: flood }))
    const reasons = await within(Promise.all(attempts.map((a) => a.refused)), DEADLINE_MS, 'five bad tokens')
    assert.ok(reasons.some((r) => rate.test(r)), 'some bad tokens were refused by rate')
    for (const reason of reasons) assert.match(reason, rate.test(reason) ? rate : /^unauthenticated/)
    flood.destroy()
  } finally {
    closeClients()
    await strict.stop()
  }
})

test.run()
