// Presence a client cannot forge: `user` comes from the token, a connection cannot speak for
// another connection's awareness client, states have a size cap and connections a rate cap.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import * as encoding from 'lib0/encoding'
import * as Y from 'yjs'
import { Awareness, encodeAwarenessUpdate } from 'y-protocols/awareness'
import { startServer, type TestServer } from './helpers/server.ts'
import { closeClients, connect, eventually, within, type Client } from './helpers/clients.ts'
import { mintToken, student, teacher } from './helpers/tokens.ts'
import type { Claims } from '../server/identity.ts'

const RATE = 5
let server: TestServer
test.before(async () => {
  server = await startServer({ MAX_AWARENESS_PER_SEC: String(RATE), MAX_AWARENESS_BYTES: '2048' })
})
test.after.each(closeClients)
test.after(async () => {
  await server.stop()
})

async function open(name: string, claims: Claims): Promise<Client> {
  const client = connect(server.url, name, await mintToken(claims))
  await within(client.synced, 5000, `${claims.sub} sync`)
  return client
}

const stateOf = (viewer: Client, of: Client) => viewer.provider.awareness!.getStates().get(of.doc.clientID) as Record<string, any> | undefined

async function droppedByRate(): Promise<number> {
  const metric = await server.app.metrics.registry.getSingleMetric('homeroom_awareness_dropped_total')!.get()
  return metric.values.find((v) => v.labels.reason === 'rate')?.value ?? 0
}

test('the server overwrites user with the identity from the token', async () => {
  const forger = await open('s1/doc/p1', student('u1', { name: 'Ann' }))
  const viewer = await open('s1/doc/p1', teacher('t1'))
  forger.provider.setAwarenessField('user', { id: 't1', name: 'Teacher', role: 'teacher' })
  forger.provider.setAwarenessField('cursor', { x: 1 })
  await eventually(() => stateOf(viewer, forger)?.cursor?.x === 1, 5000, 'the forger\'s presence')
  assert.equal(stateOf(viewer, forger)!.user, { id: 'u1', name: 'Ann', role: 'student' })
  // A state that never named a user gets one as well.
  const quiet = await open('s1/doc/p1', student('u2'))
  quiet.provider.setAwarenessField('cursor', { x: 2 })
  await eventually(() => stateOf(viewer, quiet)?.cursor?.x === 2, 5000, 'the quiet client\'s presence')
  assert.equal(stateOf(viewer, quiet)!.user, { id: 'u2', name: 'u2', role: 'student' })
})

test('a connection cannot write the awareness state of another connection\'s client', async () => {
  const victim = await open('s1/doc/p2', student('u1'))
  const hostile = await open('s1/doc/p2', student('u2'))
  const viewer = await open('s1/doc/p2', teacher('t1'))
  victim.provider.setAwarenessField('cursor', { x: 1 })
  await eventually(() => stateOf(viewer, victim)?.cursor?.x === 1, 5000, 'the victim\'s presence')
  // A state for the victim's client id, with a clock far ahead of the victim's.
  const scratch = new Y.Doc()
  scratch.clientID = victim.doc.clientID
  const fake = new Awareness(scratch)
  for (let i = 0; i < 50; i++) fake.setLocalState({ cursor: { x: 666 } })
  const encoder = encoding.createEncoder()
  encoding.writeVarString(encoder, 's1/doc/p2')
  encoding.writeVarUint(encoder, 1) // Awareness
  encoding.writeVarUint8Array(encoder, encodeAwarenessUpdate(fake, [victim.doc.clientID]))
  hostile.socket.send(encoding.toUint8Array(encoder))
  fake.destroy()
  // Handled in order: once the hostile client's own next state arrives, the forged one was handled.
  hostile.provider.setAwarenessField('cursor', { x: 7 })
  await eventually(() => stateOf(viewer, hostile)?.cursor?.x === 7, 5000, 'the hostile client\'s own presence')
  assert.is(stateOf(viewer, victim)!.cursor.x, 1)
})

test('an oversized state closes the document connection with a clear reason', async () => {
  const big = await open('s1/doc/p3', student('u1'))
  big.provider.setAwarenessField('blob', 'x'.repeat(4096))
  assert.match(await within(big.closed, 5000, 'the refusal'), /^too-large: awareness state of \d+ bytes exceeds 2048$/)
})

test('updates over the rate cap are dropped and counted; later ones get through', async () => {
  const chatty = await open('s1/doc/p4', student('u1'))
  const viewer = await open('s1/doc/p4', teacher('t1'))
  const before = await droppedByRate()
  for (let i = 0; i < 40; i++) chatty.provider.setAwarenessField('n', i)
  await eventually(async () => (await droppedByRate()) >= before + 40 - 2 * RATE, 5000, 'drops to be counted')
  let n = 100
  await eventually(() => {
    chatty.provider.setAwarenessField('n', ++n)
    return stateOf(viewer, chatty)?.n >= 101
  }, 5000, 'a state after the window')
})

test.run()
