// Presence a client cannot forge: identity fields come from the token, a connection speaks for
// one awareness client only and never for another connection's, states have a size cap and
// connections a rate cap. Hostile frames are written by hand on real clients' sockets.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import * as encoding from 'lib0/encoding'
import * as Y from 'yjs'
import { Awareness, encodeAwarenessUpdate } from 'y-protocols/awareness'
import { useServer } from './helpers/server.ts'
import { closeClients, connect, DEADLINE_MS, open, until, within, type Client } from './helpers/clients.ts'
import { closeYClients, connectY } from './helpers/ywebsocket.ts'
import { startTestCluster } from './helpers/cluster.ts'
import { mintToken, student, teacher } from './helpers/tokens.ts'
import type { Claims } from '../server/identity.ts'

const RATE = 5
const server = useServer({ MAX_AWARENESS_PER_SEC: String(RATE), MAX_AWARENESS_BYTES: '2048' })
test.after.each(() => {
  closeClients()
  closeYClients()
})

const stateOf = (viewer: Client, of: Client) => viewer.provider.awareness!.getStates().get(of.doc.clientID) as Record<string, any> | undefined

const stateOfId = (viewer: Client, clientId: number) => viewer.provider.awareness!.getStates().get(clientId) as Record<string, any> | undefined

/** Client ids the server's own awareness of the document holds a state for. */
const serverClients = (name: string): number[] => [...server.app.hocuspocus.documents.get(name)!.awareness.getStates().keys()].sort()

async function dropped(reason: 'rate' | 'foreign-client' | 'extra-client'): Promise<number> {
  const metric = await server.app.metrics.registry.getSingleMetric('homeroom_awareness_dropped_total')!.get()
  return metric.values.find((v) => v.labels.reason === reason)?.value ?? 0
}
const droppedByRate = () => dropped('rate')

type Entry = [clientId: number, clock: number, state: Record<string, unknown> | null]

/** An awareness update with exactly these entries (a null state is a removal). */
function awarenessUpdate(entries: Entry[]): Uint8Array {
  const doc = new Y.Doc()
  const scratch = new Awareness(doc)
  const states = new Map<number, Record<string, unknown>>()
  for (const [clientId, clock, state] of entries) {
    scratch.meta.set(clientId, { clock, lastUpdated: 0 })
    if (state) states.set(clientId, state)
  }
  const update = encodeAwarenessUpdate(scratch, entries.map(([clientId]) => clientId), states)
  doc.destroy()
  return update
}

/** Sends an awareness frame on the provider's socket, bypassing its Awareness. */
function sendAwareness(client: Client, update: Uint8Array): void {
  const encoder = encoding.createEncoder()
  encoding.writeVarString(encoder, client.provider.configuration.name)
  encoding.writeVarUint(encoder, 1) // Awareness
  encoding.writeVarUint8Array(encoder, update)
  client.socket.send(encoding.toUint8Array(encoder))
}

/** 1,000 ids no real client here uses, each with a state claiming to be a teacher. */
function invented(exclude: number[]): Entry[] {
  const ids = Array.from({ length: 1000 }, (_, i) => 7_000_000 + i).filter((id) => !exclude.includes(id))
  return ids.map((id) => [id, 1, { user: { id: 't1', name: 'Teacher', role: 'teacher' }, name: 'Teacher', role: 'teacher', n: 1 }])
}


/** Resolves at the client's next sync with the server (after a reconnect). */
function nextSync(client: Client): Promise<void> {
  return new Promise((resolve) => {
    const onSynced = () => {
      client.provider.off('synced', onSynced)
      resolve()
    }
    client.provider.on('synced', onSynced)
  })
}

test('the server overwrites user with the identity from the token', async () => {
  const forger = await open(server, 's1/doc/p1', student('u1', { name: 'Ann' }))
  const viewer = await open(server, 's1/doc/p1', teacher('t1'))
  forger.provider.setAwarenessField('user', { id: 't1', name: 'Teacher', role: 'teacher' })
  forger.provider.setAwarenessField('cursor', { x: 1 })
  await until(() => stateOf(viewer, forger)?.cursor?.x === 1, { what: 'the forger\'s presence' })
  assert.equal(stateOf(viewer, forger)!.user, { id: 'u1', name: 'Ann', role: 'student' })
  // A state that never named a user gets one as well.
  const quiet = await open(server, 's1/doc/p1', student('u2'))
  quiet.provider.setAwarenessField('cursor', { x: 2 })
  await until(() => stateOf(viewer, quiet)?.cursor?.x === 2, { what: 'the quiet client\'s presence' })
  assert.equal(stateOf(viewer, quiet)!.user, { id: 'u2', name: 'u2', role: 'student' })
})

test('a connection cannot write the awareness state of another connection\'s client', async () => {
  const victim = await open(server, 's1/doc/p2', student('u1'))
  const hostile = await open(server, 's1/doc/p2', student('u2'))
  const viewer = await open(server, 's1/doc/p2', teacher('t1'))
  victim.provider.setAwarenessField('cursor', { x: 1 })
  await until(() => stateOf(viewer, victim)?.cursor?.x === 1, { what: 'the victim\'s presence' })
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
  await until(() => stateOf(viewer, hostile)?.cursor?.x === 7, { what: 'the hostile client\'s own presence' })
  assert.is(stateOf(viewer, victim)!.cursor.x, 1)
})

test('an oversized state closes the document connection with a clear reason', async () => {
  const big = await open(server, 's1/doc/p3', student('u1'))
  big.provider.setAwarenessField('blob', 'x'.repeat(4096))
  assert.match(await within(big.closed, DEADLINE_MS, 'the refusal'), /^too-large: awareness state of \d+ bytes exceeds 2048$/)
})

test('updates over the rate cap are dropped and counted; later ones get through', async () => {
  const chatty = await open(server, 's1/doc/p4', student('u1'))
  const viewer = await open(server, 's1/doc/p4', teacher('t1'))
  const before = await droppedByRate()
  for (let i = 0; i < 40; i++) chatty.provider.setAwarenessField('n', i)
  await until(async () => (await droppedByRate()) >= before + 40 - 2 * RATE, { what: 'drops to be counted' })
  let n = 100
  await until(() => {
    chatty.provider.setAwarenessField('n', ++n)
    return stateOf(viewer, chatty)?.n >= 101
  }, { what: 'a state after the window' })
})

test('one connection introduces one awareness client: 1,000 invented ids in one message', async () => {
  const name = 's1/doc/p5'
  const hostile = await open(server, name, student('u1', { name: 'Ann' }))
  const viewer = await open(server, name, teacher('t1'))
  viewer.provider.setAwarenessField('cursor', { x: 0 })
  await until(() => serverClients(name).includes(viewer.doc.clientID), { what: 'the viewer\'s presence on the server' })
  const extra = await dropped('extra-client')
  const entries = invented([hostile.doc.clientID, viewer.doc.clientID])
  assert.is(entries.length, 1000)
  const first = entries[0]![0]
  sendAwareness(hostile, awarenessUpdate(entries))
  // Handled in order: once the next state for the first id arrives, the big message was handled.
  sendAwareness(hostile, awarenessUpdate([[first, 2, { n: 2 }]]))
  await until(() => stateOfId(viewer, first)?.n === 2, { what: 'the connection\'s one client' })
  // The first id it sent a state for became its client; the other 999 went nowhere.
  assert.equal([...viewer.provider.awareness!.getStates().keys()].sort(), [viewer.doc.clientID, first].sort())
  assert.equal(serverClients(name), [viewer.doc.clientID, first].sort())
  assert.is((await dropped('extra-client')) - extra, 999)
  assert.equal(stateOfId(viewer, first)!.user, { id: 'u1', name: 'Ann', role: 'student' })
  // From now on even the provider's own client id is a second one for this connection.
  hostile.provider.setAwarenessField('cursor', { x: 1 })
  await until(async () => (await dropped('extra-client')) - extra === 1000, { what: 'the provider\'s own state to be dropped' })
  assert.is(stateOf(viewer, hostile), undefined)
  assert.equal(serverClients(name), [viewer.doc.clientID, first].sort())
})

test('a connection cannot remove another client\'s state', async () => {
  const name = 's1/doc/p6'
  const victim = await open(server, name, student('u1'))
  const hostile = await open(server, name, student('u2'))
  const viewer = await open(server, name, teacher('t1'))
  victim.provider.setAwarenessField('cursor', { x: 1 })
  await until(() => stateOf(viewer, victim)?.cursor?.x === 1, { what: 'the victim\'s presence' })
  const clock = victim.provider.awareness!.meta.get(victim.doc.clientID)!.clock
  // A removal at the victim's clock (what a peer sends when it thinks a client is gone) and one far ahead.
  sendAwareness(hostile, awarenessUpdate([[victim.doc.clientID, clock, null]]))
  sendAwareness(hostile, awarenessUpdate([[victim.doc.clientID, clock + 100, null], [7_000_000, 5, null]]))
  hostile.provider.setAwarenessField('cursor', { x: 7 })
  await until(() => stateOf(viewer, hostile)?.cursor?.x === 7, { what: 'the hostile client\'s own presence' })
  assert.is(stateOf(viewer, victim)?.cursor?.x, 1)
  assert.equal(serverClients(name), [victim.doc.clientID, hostile.doc.clientID].sort())
})

test('identity-looking top-level fields carry the token\'s identity, whatever the client sent', async () => {
  const name = 's1/doc/p7'
  const forger = await open(server, name, student('u1', { name: 'Ann' }))
  const viewer = await open(server, name, teacher('t1'))
  forger.provider.awareness!.setLocalState({
    name: 'Principal Skinner',
    role: 'admin',
    id: 't1',
    sub: 't1',
    userId: 't1',
    userName: 'Principal Skinner',
    user_id: 't1',
    DisplayName: 'Principal Skinner',
    user: { id: 't1', name: 'Teacher', role: 'teacher' },
    constructor: 'not an identity',
    color: '#f00',
    cursor: { x: 5 },
  })
  await until(() => stateOf(viewer, forger)?.cursor?.x === 5, { what: 'the forger\'s presence' })
  const expected = {
    name: 'Ann',
    role: 'student',
    id: 'u1',
    sub: 'u1',
    userId: 'u1',
    userName: 'Ann',
    user_id: 'u1',
    DisplayName: 'Ann',
    user: { id: 'u1', name: 'Ann', role: 'student' },
    constructor: 'not an identity',
    color: '#f00',
    cursor: { x: 5 },
  }
  assert.equal(stateOf(viewer, forger), expected)
  assert.equal(server.app.hocuspocus.documents.get(name)!.awareness.getStates().get(forger.doc.clientID), expected)
  // Fields a client did not send are not added; only `user` always is.
  const quiet = await open(server, name, student('u2'))
  quiet.provider.setAwarenessField('cursor', { x: 2 })
  await until(() => stateOf(viewer, quiet)?.cursor?.x === 2, { what: 'the quiet client\'s presence' })
  assert.equal(stateOf(viewer, quiet), { cursor: { x: 2 }, user: { id: 'u2', name: 'u2', role: 'student' } })
})

test('two honest users see each other\'s presence, update after update', async () => {
  const name = 's1/doc/p8'
  const ann = await open(server, name, student('u1', { name: 'Ann' }))
  const tom = await open(server, name, teacher('t1', { name: 'Tom' }))
  const extra = await dropped('extra-client')
  const foreign = await dropped('foreign-client')
  for (const x of [1, 2]) {
    ann.provider.setAwarenessField('cursor', { x })
    tom.provider.setAwarenessField('cursor', { x: -x })
    await until(() => stateOf(tom, ann)?.cursor?.x === x && stateOf(ann, tom)?.cursor?.x === -x, { what: `both cursors at ${x}` })
  }
  assert.equal(stateOf(tom, ann)!.user, { id: 'u1', name: 'Ann', role: 'student' })
  assert.equal(stateOf(ann, tom)!.user, { id: 't1', name: 'Tom', role: 'teacher' })
  assert.equal(serverClients(name), [ann.doc.clientID, tom.doc.clientID].sort())
  assert.is(await dropped('extra-client'), extra)
  assert.is(await dropped('foreign-client'), foreign)
})

test('a provider that reconnects with its client id keeps its presence; leaving afterwards removes it', async () => {
  const name = 's1/doc/p9'
  const viewer = await open(server, name, teacher('t1'))
  const mover = await open(server, name, student('u1', { name: 'Ann' }))
  mover.provider.setAwarenessField('cursor', { x: 1 })
  await until(() => stateOf(viewer, mover)?.cursor?.x === 1, { what: 'the mover\'s presence' })
  const extra = await dropped('extra-client')
  const foreign = await dropped('foreign-client')
  mover.socket.disconnect()
  await until(() => stateOf(viewer, mover) === undefined, { what: 'the departure' })
  const resynced = nextSync(mover)
  void mover.socket.connect()
  await within(resynced, DEADLINE_MS, 'the resync')
  // Same provider, same Yjs client id, new server connection.
  mover.provider.setAwarenessField('cursor', { x: 2 })
  await until(() => stateOf(viewer, mover)?.cursor?.x === 2, { what: 'the presence after the reconnect' })
  assert.equal(stateOf(viewer, mover)!.user, { id: 'u1', name: 'Ann', role: 'student' })
  assert.equal(serverClients(name), [mover.doc.clientID])
  assert.is(await dropped('extra-client'), extra)
  assert.is(await dropped('foreign-client'), foreign)
  // Hocuspocus ties a client id to a connection only the first time it sees the id; without the
  // presence extension's help the state would linger 30 s after this second connection closed.
  mover.destroy()
  await until(() => stateOf(viewer, mover) === undefined, { what: 'the final departure' })
  assert.equal(serverClients(name), [])
})

test('the /y/ endpoint: a stock y-websocket client speaks for one client, and its echoes of others are no offence', async () => {
  const name = 's1/doc/p10'
  const viewer = await open(server, name, teacher('t1'))
  viewer.provider.setAwarenessField('cursor', { x: 0 })
  await until(() => serverClients(name).includes(viewer.doc.clientID), { what: 'the viewer\'s presence on the server' })
  const extra = await dropped('extra-client')
  const foreign = await dropped('foreign-client')
  const y = connectY(server.url, name, await mintToken(student('u3', { name: 'Yan' })))
  await within(y.synced, DEADLINE_MS, 'y-websocket sync')
  // y-websocket sends every awareness change it receives back to the server, this one included.
  await until(() => y.provider.awareness.getStates().has(viewer.doc.clientID), { what: 'the viewer\'s state at the y-websocket client' })
  viewer.provider.setAwarenessField('cursor', { x: 1 })
  await until(() => y.provider.awareness.getStates().get(viewer.doc.clientID)?.cursor?.x === 1, { what: 'the viewer\'s update at the y-websocket client' })
  y.provider.awareness.setLocalState({ name: 'Principal', role: 'admin', cursor: { x: 3 } })
  await until(() => stateOfId(viewer, y.doc.clientID)?.cursor?.x === 3, { what: 'the y-websocket client\'s presence' })
  assert.equal(stateOfId(viewer, y.doc.clientID), { name: 'Yan', role: 'student', cursor: { x: 3 }, user: { id: 'u3', name: 'Yan', role: 'student' } })
  assert.is(await dropped('foreign-client'), foreign, 'echoes are not counted')
  // 1,000 invented ids, as a raw y-websocket frame (no document name in front).
  const encoder = encoding.createEncoder()
  encoding.writeVarUint(encoder, 1) // Awareness
  encoding.writeVarUint8Array(encoder, awarenessUpdate(invented([viewer.doc.clientID, y.doc.clientID])))
  y.provider.ws!.send(encoding.toUint8Array(encoder))
  y.provider.awareness.setLocalStateField('cursor', { x: 4 })
  await until(() => stateOfId(viewer, y.doc.clientID)?.cursor?.x === 4, { what: 'the y-websocket client\'s next state' })
  assert.is((await dropped('extra-client')) - extra, 1000)
  assert.equal([...viewer.provider.awareness!.getStates().keys()].sort(), [viewer.doc.clientID, y.doc.clientID].sort())
  assert.equal(serverClients(name), [viewer.doc.clientID, y.doc.clientID].sort())
})

test('across instances: no one takes over another user\'s client id; after an instance dies, its users take theirs back', async () => {
  const cluster = await startTestCluster('presence', 3)
  if (!cluster) return // the helper printed why (no PostgreSQL or Redis)
  try {
    const name = 's1/doc/p11'
    const at = async (instance: number, claims: Claims): Promise<Client> => {
      const client = connect(cluster.instances[instance].url, name, await mintToken(claims))
      await within(client.synced, DEADLINE_MS, `${claims.sub} sync`)
      return client
    }
    const viewer = await at(0, teacher('t1'))
    const hostile = await at(1, student('u2'))
    const mover = await at(2, student('u3', { name: 'Mo' }))
    mover.provider.setAwarenessField('cursor', { x: 1 })
    await until(() => stateOf(viewer, mover)?.cursor?.x === 1 && stateOf(hostile, mover)?.cursor?.x === 1, { what: 'the mover\'s presence on instances 0 and 1' })
    // On instance 1 the mover's state came through Redis: no connection there owns its id.
    sendAwareness(hostile, awarenessUpdate([[mover.doc.clientID, 1000, { cursor: { x: 666 } }]]))
    hostile.provider.setAwarenessField('cursor', { x: 7 })
    await until(() => stateOf(viewer, hostile)?.cursor?.x === 7, { what: 'the hostile client\'s own presence on instance 0' })
    assert.is(stateOf(viewer, mover)!.cursor.x, 1)
    assert.is(stateOf(hostile, mover)!.cursor.x, 1)
    // Instance 2 dies without a word: the others hold the mover's state until it times out (30 s).
    await cluster.kill(2)
    await until(() => mover.socket.status !== 'connected', { what: 'the mover noticing' })
    // What a load balancer does: the same provider, Awareness and client id, on another instance.
    mover.socket.setConfiguration({ url: cluster.instances[1].url })
    const resynced = nextSync(mover)
    void mover.socket.connect()
    await within(resynced, DEADLINE_MS, 'the mover\'s resync on instance 1')
    mover.provider.setAwarenessField('cursor', { x: 2 })
    await until(() => stateOf(viewer, mover)?.cursor?.x === 2, { what: 'the mover\'s presence, now through instance 1' })
    assert.equal(stateOf(viewer, mover)!.user, { id: 'u3', name: 'Mo', role: 'student' })
  } finally {
    closeClients()
    await cluster.stop()
  }
})

test.run()
