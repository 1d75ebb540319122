// The stock y-websocket endpoint: same live documents as Hocuspocus providers, same rules,
// and refusals that reach the stock client as 44xx close codes so it stops retrying.
import { Writable } from 'node:stream'
import WebSocket from 'ws'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import pino from 'pino'
import * as Y from 'yjs'
import { startServer, useServer, type TestServer } from './helpers/server.ts'
import { closeClients, connect, DEADLINE_MS, until, within } from './helpers/clients.ts'
import { closeYClients, connectY, type YClient } from './helpers/ywebsocket.ts'
import { mintToken, student, teacher } from './helpers/tokens.ts'

/** Every log line the server wrote, at debug level. */
let logText = ''
const sink = new Writable({
  write(chunk, _encoding, done) {
    logText += chunk.toString()
    done()
  },
})
const server = useServer({}, { log: pino({ level: 'debug' }, sink) })
test.after.each(() => {
  closeClients()
  closeYClients()
})

const bodyText = (doc: Y.Doc): string => doc.getXmlFragment('body').toString()

/** Waits for the server to close the client for good, then checks that it does not come back. */
async function refusal(client: YClient, what: string): Promise<{ code: number; reason: string }> {
  const event = await within(client.closed, DEADLINE_MS, `refusal: ${what}`)
  const before = client.reconnects()
  // Proving an absence needs a wait: longer than y-websocket's first backoff (200 ms here).
  await new Promise((r) => setTimeout(r, 600))
  assert.is(client.reconnects(), before, `${what}: the client reconnected after ${event.code}`)
  assert.not.ok(client.provider.shouldConnect, `${what}: the client still wants to connect`)
  return event
}

const guardActive = (s: TestServer): boolean =>
  s.app.hocuspocus.configuration.extensions.some((e) => /guard/i.test(e.extensionName ?? ''))

test('a stock y-websocket client and a Hocuspocus provider converge on one document', async () => {
  const name = 's1/doc/converge'
  const y = connectY(server.url, name, await mintToken(student('u1')))
  const hp = connect(server.url, name, await mintToken(teacher('t1')))
  await within(Promise.all([y.synced, hp.synced]), DEADLINE_MS, 'both synced')

  y.doc.getXmlFragment('body').insert(0, [new Y.XmlText('from y-websocket ')])
  hp.doc.getXmlFragment('body').insert(0, [new Y.XmlText('from hocuspocus ')])
  await until(() => bodyText(y.doc).includes('from hocuspocus') && bodyText(hp.doc).includes('from y-websocket'), { what: 'both edits on both sides' })
  assert.is(bodyText(y.doc), bodyText(hp.doc))
  await until(() => bodyText(server.app.hocuspocus.documents.get(name)!).includes('from y-websocket'), { what: 'server copy' })
  // Journaled like any client's update, attributed to the token's user.
  const journal = await server.app.store.entriesAfter(name, 0)
  assert.ok(journal.some((entry) => entry.user === 'u1' && entry.origin === 'client'), 'the y-websocket update is in the journal as u1')

  // Presence crosses too.
  y.provider.awareness.setLocalStateField('cursor', { anchor: 3 })
  y.provider.awareness.setLocalStateField('user', { id: 'someone-else', name: 'Forged' })
  await until(() => [...hp.provider.awareness!.getStates().values()].some((s) => (s as { cursor?: { anchor: number } }).cursor?.anchor === 3), { what: 'y-websocket presence at the Hocuspocus provider' })
  if (server.app.hocuspocus.configuration.extensions.some((e) => e.extensionName === 'presence')) {
    // The server stamps the identity from the token over whatever the client claimed.
    await until(() => [...hp.provider.awareness!.getStates().values()].some((s) => (s as { user?: { id: string } }).user?.id === 'u1'), { what: 'stamped identity' })
    assert.not.ok([...hp.provider.awareness!.getStates().values()].some((s) => (s as { user?: { id: string } }).user?.id === 'someone-else'))
  }
  hp.provider.setAwarenessField('cursor', { anchor: 7 })
  await until(() => [...y.provider.awareness.getStates().values()].some((s) => (s as { cursor?: { anchor: number } }).cursor?.anchor === 7), { what: 'Hocuspocus presence at the y-websocket client' })
})

test('a y-websocket client that reconnects merges what it wrote while offline', async () => {
  const name = 's1/doc/offline'
  const y = connectY(server.url, name, await mintToken(student('u1')))
  const hp = connect(server.url, name, await mintToken(teacher('t1')))
  await within(Promise.all([y.synced, hp.synced]), DEADLINE_MS, 'both synced')
  y.provider.disconnect()
  y.doc.getXmlFragment('body').insert(0, [new Y.XmlText('offline edit ')])
  hp.doc.getXmlFragment('body').insert(0, [new Y.XmlText('online edit ')])
  y.provider.connect()
  await until(() => bodyText(y.doc).includes('online edit') && bodyText(hp.doc).includes('offline edit'), { what: 'merge after reconnect' })
  assert.is(bodyText(y.doc), bodyText(hp.doc))
})

test('opening refusals reach the stock client as 44xx codes and stop its retries', async () => {
  const token = await mintToken(teacher())
  const cases: Array<[string, string, number, RegExp]> = [
    ['s1/doc/d1', 'not-a-token', 4401, /^unauthenticated/],
    ['s1/doc', token, 4400, /^bad-name/],
    ['s1/spaceship/1', token, 4404, /^unknown-surface/],
    ['s2/doc/d1', token, 4403, /^forbidden:/],
    ['s1/exam/e1/key', await mintToken(student()), 4403, /^forbidden:/],
  ]
  await Promise.all(
    cases.map(async ([name, t, code, reason]) => {
      const event = await refusal(connectY(server.url, name, t), name)
      assert.is(event.code, code, `close code for ${name}`)
      assert.match(event.reason, reason)
    }),
  )
})

test('a y-websocket client without a token is refused as unauthenticated', async () => {
  const event = await refusal(connectY(server.url, 's1/doc/d1', ''), 'no token')
  assert.is(event.code, 4401)
})

test('tokens given in the URL never reach the logs', async () => {
  const token = await mintToken(student('u1'))
  const y = connectY(server.url, 's1/doc/logs', token)
  await within(y.synced, DEADLINE_MS, 'sync')
  await refusal(connectY(server.url, 's2/doc/d1', token), 'other school')
  assert.ok(logText.includes('y-websocket closed by server'), 'the refusal was logged at debug level')
  assert.not.ok(logText.includes(token), 'a token appeared in the logs')
  assert.not.ok(logText.includes(token.split('.')[2]), 'a token signature appeared in the logs')
})

test('writes the rules refuse close the stock client with forbidden-write (4403) and frozen (4409)', async () => {
  if (!guardActive(server)) {
    console.log('SKIPPED forbidden-write/frozen over y-websocket: no write guard extension is installed yet (issue 3)')
    return
  }
  const y = connectY(server.url, 's1/doc/guarded', await mintToken(student('u1')))
  await within(y.synced, DEADLINE_MS, 'sync')
  y.doc.getMap('comments').set('t1:c1', { text: 'posing as the teacher', at: Date.now() })
  const forbidden = await refusal(y, "student writing the teacher's comment")
  assert.is(forbidden.code, 4403)
  assert.match(forbidden.reason, /^forbidden-write: comments\/t1:c1/)
  const doc = await server.app.hocuspocus.openDirectConnection('s1/doc/guarded', {})
  assert.is(doc.document!.getMap('comments').size, 0, 'the refused comment reached the server')
  await doc.disconnect()

  const board = await server.app.hocuspocus.openDirectConnection('s1/board/locked', {})
  await board.transact((doc) => doc.getMap('meta').set('locked', true))
  const z = connectY(server.url, 's1/board/locked', await mintToken(student('u1')))
  await within(z.synced, DEADLINE_MS, 'sync')
  z.doc.getMap('elements').set('u1:e1', { kind: 'rect', x: 1, y: 1, w: 2, h: 2, color: '#000', z: 1 })
  const frozen = await refusal(z, 'student drawing on a locked board')
  assert.is(frozen.code, 4409)
  assert.match(frozen.reason, /^frozen:/)
  assert.is(board.document!.getMap('elements').size, 0, 'the frozen write reached the server')
  await board.disconnect()
})

test('a write on a read-only connection closes the stock client with forbidden-write', async () => {
  const y = connectY(server.url, 's1/poll/p1', await mintToken(student('u1')))
  await within(y.synced, DEADLINE_MS, 'sync')
  y.doc.getMap('tallies').set('0', 999)
  const refused = await refusal(y, 'student writing tallies')
  assert.is(refused.code, 4403)
  assert.match(refused.reason, /^forbidden-write:/)
  const poll = await server.app.hocuspocus.openDirectConnection('s1/poll/p1', {})
  assert.is(poll.document!.getMap('tallies').get('0'), undefined, 'the refused tally reached the server')
  await poll.disconnect()
})

/** Opens a raw socket on the endpoint, sends `frame` once open, resolves with the close code and reason. */
async function rawClose(token: string, frame: string | Uint8Array): Promise<{ code: number; reason: string }> {
  const ws = new WebSocket(`${server.url}/y/s1/doc/raw?token=${token}`)
  return within(new Promise((resolve) => {
      ws.on('open', () => ws.send(frame))
      ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() }))
    }), DEADLINE_MS, 'raw socket closed')
}

test('hostile frames close the socket with bad-message (4400)', async () => {
  const token = await mintToken(teacher())
  const text = await rawClose(token, 'hello')
  assert.is(text.code, 4400)
  assert.match(text.reason, /^bad-message/)
  // A Hocuspocus-only message type (CLOSE) is not part of the y-websocket protocol.
  assert.is((await rawClose(token, new Uint8Array([7]))).code, 4400)
  // A sync message of an unknown kind.
  const garbage = await rawClose(token, new Uint8Array([0, 9, 255, 255]))
  assert.is(garbage.code, 4400)
  assert.match(garbage.reason, /^bad-message/)
  // The server still serves.
  const y = connectY(server.url, 's1/doc/raw', token)
  await within(y.synced, DEADLINE_MS, 'sync after hostile frames')
})

// Floods over the message rate are slowed, not closed, and past the byte budget closed with 4429: test/limits.test.ts.
test('oversized messages (4413) close the stock client', async () => {
  const strict = await startServer({ MAX_MESSAGE_BYTES: '4096' })
  try {
    const big = connectY(strict.url, 's1/doc/big', await mintToken(teacher()))
    await within(big.synced, DEADLINE_MS, 'sync')
    big.doc.getXmlFragment('body').insert(0, [new Y.XmlText('x'.repeat(10_000))])
    const tooLarge = await refusal(big, 'a 10 kB update')
    assert.is(tooLarge.code, 4413)
    assert.match(tooLarge.reason, /^too-large:/)
  } finally {
    closeYClients()
    await strict.stop()
  }
})

test('the per-user connection limit applies to y-websocket sockets (4429)', async () => {
  const strict = await startServer({ MAX_CONNECTIONS_PER_USER: '2' })
  try {
    const token = await mintToken(student('u1'))
    const first = connectY(strict.url, 's1/doc/a', token)
    const second = connectY(strict.url, 's1/doc/b', token)
    await within(Promise.all([first.synced, second.synced]), DEADLINE_MS, 'two sockets')
    const third = await refusal(connectY(strict.url, 's1/doc/c', token), 'a third socket')
    assert.is(third.code, 4429)
    assert.match(third.reason, /^limit:/)
  } finally {
    closeYClients()
    await strict.stop()
  }
})

test('a server restart is transient: the stock client reconnects', async () => {
  const restartable = await startServer()
  const name = 's1/doc/restart'
  const y = connectY(restartable.url, name, await mintToken(teacher()))
  await within(y.synced, DEADLINE_MS, 'sync')
  const closedAt = new Promise((resolve) => y.provider.once('connection-close', resolve))
  restartable.app.hocuspocus.closeConnections(name)
  await within(closedAt, DEADLINE_MS, 'connection closed')
  await until(() => y.provider.wsconnected, { what: 'reconnected' })
  assert.ok(y.provider.shouldConnect)
  y.destroy()
  await restartable.stop()
})

test.run()
