// Offline work in the typed client survives a refused opening that says nothing about it: a
// message written offline stays in the IndexedDB copy when the next opening is refused for an
// expired token, and reaches the server once a fresh token opens the document.
import 'fake-indexeddb/auto'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import WebSocket from 'ws'
import { SignJWT } from 'jose'
import { startServer, type TestServer } from './helpers/server.ts'
import { eventually, within } from './helpers/clients.ts'
import { mintToken, student, TEST_SECRET } from './helpers/tokens.ts'
import { Session, ChatClient, type Refusal } from '../docs-model/client/index.ts'

const ROOM = 's1/chat/offline'
let server: TestServer

test.before(async () => {
  server = await startServer()
})
test.after(() => server.stop())

const session = (token: string) => new Session({ url: server.url, token, WebSocketPolyfill: WebSocket, offline: true })

/** A token for u1 that expired a minute ago. */
const expiredToken = () =>
  new SignJWT({ ...student('u1') })
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuedAt(Math.floor(Date.now() / 1000) - 120)
    .setExpirationTime(Math.floor(Date.now() / 1000) - 60)
    .sign(new TextEncoder().encode(TEST_SECRET))

test('a message written offline survives a refusal for an expired token, and arrives with a fresh one', async () => {
  const first = session(await mintToken(student('u1')))
  const chat = new ChatClient(first, ROOM)
  await within(chat.handle.ready, 5000, 'first opening')
  await eventually(() => first.state() === 'online', 5000, 'online')
  first.socket.disconnect()
  await eventually(() => first.state() === 'offline', 5000, 'offline')
  const sent = chat.send('written on the bus')
  first.destroy()

  const expired = session(await expiredToken())
  const refused = new ChatClient(expired, ROOM)
  const { reason, pending } = await within(new Promise<Refusal>((resolve) => refused.handle.on('refused', resolve)), 5000, 'refusal')
  assert.match(reason, /^unauthenticated/)
  assert.equal(pending, ['messages'], 'the refusal names what the copy still holds')
  assert.is(expired.state(), 'refused', 'the indicator does not say online')
  assert.ok(refused.handle.exportPending().length > 0)
  expired.destroy()

  const fresh = session(await mintToken(student('u1')))
  const again = new ChatClient(fresh, ROOM)
  await within(again.handle.ready, 5000, 'opening with a fresh token')
  assert.ok(again.messages().some((m) => m.id === sent.id), 'the local copy still holds the message')
  await eventually(async () => {
    const stored = (await server.app.peek(ROOM)).getArray('messages').toArray() as Array<{ id: string }>
    return stored.some((m) => m.id === sent.id)
  }, 10_000, 'the message to reach the server')
  fresh.destroy()
})

test('a document the user may not open resolves ready as refused instead of leaving the app waiting', async () => {
  const own = session(await mintToken(student('u1')))
  const handle = own.open('s1/inbox/u2')
  await within(handle.ready, 5000, 'ready after the refusal')
  assert.match(handle.refusal?.reason ?? '', /^forbidden/)
  assert.is(own.state(), 'refused')
  own.destroy()
})

test.run()
