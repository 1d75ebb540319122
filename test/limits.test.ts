// Limits: a client over a limit gets a clear reason; everyone else keeps being served.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import WebSocket from 'ws'
import * as Y from 'yjs'
import { startServer, testEnv, useServer } from './helpers/server.ts'
import { loadConfig } from '../server/config.ts'
import { closeClients, connect, DEADLINE_MS, open, openSocket, until, within } from './helpers/clients.ts'
import { mintToken, student, teacher } from './helpers/tokens.ts'
import { closeYClients, connectY } from './helpers/ywebsocket.ts'

const server = useServer({
    MAX_MESSAGE_BYTES: '4096',
    MAX_MESSAGES_PER_SEC: '20',
    MAX_CONNECTIONS_PER_USER: '2',
    MAX_DOCS_PER_CONNECTION: '2',
  })
test.after.each(() => {
  closeClients()
  closeYClients()
})

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

/** The server's count of messages held back for their socket's rate (server/backlog.ts). */
async function delayedMessages(http: string): Promise<number> {
  const text = await (await fetch(`${http}/metrics`)).text()
  return Number(/^homeroom_messages_delayed_total (\d+)/m.exec(text)?.[1] ?? 0)
}

test('a burst over the message rate is slowed, not closed: every change arrives and is acknowledged', async () => {
  const other = await bystander('s1/doc/rate')
  const sender = connect(server.url, 's1/doc/rate', await mintToken(teacher('t1')))
  await within(sender.synced, DEADLINE_MS, 'sync')
  const delayedBefore = await delayedMessages(server.http)
  let closed = false
  void sender.closed.then(() => (closed = true))
  // 100 messages at 20 per second (bursts of 40): most of them wait their turn.
  for (let i = 0; i < 100; i++) sender.doc.getMap('meta').set(`k${i}`, i)
  await sender.acknowledged()
  await until(() => other.doc.getMap('meta').size === 100, { what: 'every change at the bystander' })
  assert.not.ok(closed, 'the sender stayed connected')
  const delayed = (await delayedMessages(server.http)) - delayedBefore
  // How many wait depends on how fast the server gets through them; that some did is the point.
  assert.ok(delayed > 0, 'messages were held back, not refused')
  other.doc.getMap('meta').set('title', 'still served')
  await other.acknowledged()
})

test('past its byte budget a client over the rate is closed with 4429, which the stock provider sees; it reconnects and its changes arrive', async () => {
  const tight = await startServer({ MAX_MESSAGES_PER_SEC: '2', MAX_QUEUED_BYTES: '65536' })
  try {
    const other = connect(tight.url, 's1/doc/flood', await mintToken(teacher('t9')))
    const sender = connect(tight.url, 's1/doc/flood', await mintToken(teacher('t1')))
    await within(Promise.all([other.synced, sender.synced]), DEADLINE_MS, 'sync')
    // Four messages pass (bursts of twice the rate); the fifth, of 100 KB, is more than may wait.
    const body = sender.doc.getXmlFragment('body')
    for (let i = 0; i < 8; i++) body.insert(body.length, [new Y.XmlText('x'.repeat(100_000))])
    const { code, reason } = await within(sender.closeEvent, DEADLINE_MS, 'close of the flooding socket')
    assert.is(code, 4429)
    assert.match(reason, /^rate-limited: more than 65536 bytes waiting/)
    assert.ok(sender.provider.hasUnsyncedChanges, 'the changes not let through stay with the client')
    // The provider reconnects and sends what it holds in one sync: nothing was lost.
    await until(() => other.doc.getXmlFragment('body').length === 8, { what: 'every paragraph at the bystander' })
    await sender.acknowledged()
  } finally {
    closeClients()
    await tight.stop()
  }
})

test('on /y/ too: a burst over the rate arrives whole; past the budget the socket closes with 4429', async () => {
  const other = await bystander('s1/doc/yrate')
  const sender = connectY(server.url, 's1/doc/yrate', await mintToken(teacher('t3')))
  await within(sender.synced, DEADLINE_MS, 'y-websocket sync')
  for (let i = 0; i < 100; i++) sender.doc.getMap('meta').set(`k${i}`, i)
  await until(() => other.doc.getMap('meta').size === 100, { what: 'every /y/ change at the bystander' })
  assert.is(sender.reconnects(), 0, 'the y-websocket client was never disconnected')

  const tight = await startServer({ MAX_MESSAGES_PER_SEC: '1', MAX_QUEUED_BYTES: '65536' })
  try {
    const flooder = connectY(tight.url, 's1/doc/yflood', await mintToken(teacher('t4')))
    await within(flooder.synced, DEADLINE_MS, 'y-websocket sync')
    const body = flooder.doc.getXmlFragment('body')
    for (let i = 0; i < 4; i++) body.insert(body.length, [new Y.XmlText('x'.repeat(100_000))])
    const { code, reason } = await within(flooder.closed, DEADLINE_MS, 'close of the flooding /y/ socket')
    assert.is(code, 4429)
    assert.match(reason, /^rate-limited: /)
  } finally {
    closeYClients()
    await tight.stop()
  }
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

test('a document takes at most MAX_CLIENTS_PER_DOCUMENT connections (default 500): the next is refused with full, on /y/ with 4429', async () => {
  const small = await startServer({ MAX_CLIENTS_PER_DOCUMENT: '3' })
  try {
    assert.is(loadConfig(testEnv(small.dataDir)).limits.clientsPerDocument, 500)
    const members = await Promise.all(['u1', 'u2', 'u3'].map(async (sub) => open(small, 's1/chat/room', student(sub, { classes: ['7a'] }))))
    const fourth = connect(small.url, 's1/chat/room', await mintToken(student('u4', { classes: ['7a'] })))
    assert.match(await within(fourth.refused, DEADLINE_MS, 'refusal of the fourth'), /^full: s1\/chat\/room has 3 connections already/)
    const y = connectY(small.url, 's1/chat/room', await mintToken(student('u5', { classes: ['7a'] })))
    const closed = await within(y.closed, DEADLINE_MS, 'refusal on /y/')
    assert.is(closed.code, 4429)
    assert.match(closed.reason, /^full: /)
    // Other documents are not affected, and a place that frees up can be taken.
    await open(small, 's1/chat/other', student('u4', { classes: ['7a'] }))
    members[0].destroy()
    await until(async () => {
      const again = connect(small.url, 's1/chat/room', await mintToken(student('u6', { classes: ['7a'] })))
      const outcome = await Promise.race([again.synced.then(() => 'synced'), again.refused])
      if (outcome !== 'synced') again.destroy()
      return outcome === 'synced'
    }, { what: 'a free place taken' })
  } finally {
    closeClients()
    closeYClients()
    await small.stop()
  }
})

test.run()
