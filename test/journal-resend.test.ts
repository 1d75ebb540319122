// A client that sends again what the server already holds (its acknowledgement was lost on a
// reconnect, perhaps to another instance that had the change through Redis) does not journal
// it twice: the journal keeps each change once, as the chaos run's exactly-once invariant asks.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import * as Y from 'yjs'
import { useServer } from './helpers/server.ts'
import { closeClients, connect, DEADLINE_MS, open, until, within } from './helpers/clients.ts'
import { journalLength, sendRawUpdate } from './helpers/guard.ts'
import { mintToken, teacher } from './helpers/tokens.ts'

const server = useServer()
test.after.each(closeClients)

test('a resent insert or delete is applied as a no-op and not journaled again; a new change still is', async () => {
  const name = 's1/doc/resend'
  const client = await open(server, name, teacher())
  const notes = client.doc.getMap('meta')
  notes.set('title', 'Draft')
  await client.acknowledged()
  notes.delete('title')
  await client.acknowledged()
  const before = await journalLength(server, name)
  // Everything the client holds, the deletion included: nothing the server lacks.
  sendRawUpdate(client, Y.encodeStateAsUpdate(client.doc))
  // Frames are handled in order: once this later change is acknowledged, the resend was handled.
  notes.set('title', 'Final')
  await client.acknowledged()
  assert.is(await journalLength(server, name), before + 1, 'only the new change was journaled')
  assert.is(server.app.hocuspocus.documents.get(name)!.getMap('meta').get('title'), 'Final')
})

test('a change another instance journaled but never passed on: the reconnecting client\'s resync does not journal it twice', async () => {
  const name = 's1/doc/resync-journaled'
  // Someone keeps the document loaded here, so this instance's copy lacks what the journal gains.
  const watcher = await open(server, name, teacher('t2'))
  const offline = new Y.Doc()
  offline.getMap('meta').set('title', 'Written before the crash')
  // What the dead instance did: journaled the change, and died before Redis carried it here.
  await server.app.store.record(name, { at: Date.now(), user: 't1', origin: 'client', update: Y.encodeStateAsUpdate(offline) })
  const before = await journalLength(server, name)
  const client = connect(server.url, name, await mintToken(teacher('t1')), { doc: offline })
  await within(client.synced, DEADLINE_MS, 'the resync')
  await until(() => watcher.doc.getMap('meta').get('title') === 'Written before the crash', { what: 'the change reaching the other client' })
  assert.is(await journalLength(server, name), before, 'journaled once, by the instance that received it first')
})

test('a change another instance journaled but never passed on, sent again as a plain update on a new connection, is not journaled twice', async () => {
  const name = 's1/doc/plain-journaled'
  const watcher = await open(server, name, teacher('t2'))
  const offline = new Y.Doc()
  offline.getMap('meta').set('title', 'Queued while away')
  const change = Y.encodeStateAsUpdate(offline)
  await server.app.store.record(name, { at: Date.now(), user: 't1', origin: 'client', update: change })
  const before = await journalLength(server, name)
  // A copy without the change: its resync carries nothing, the change comes as an update after it.
  const client = await open(server, name, teacher('t1'))
  sendRawUpdate(client, change)
  await until(() => watcher.doc.getMap('meta').get('title') === 'Queued while away', { what: 'the change reaching the other client' })
  client.doc.getMap('meta').set('subtitle', 'new')
  await client.acknowledged()
  assert.is(await journalLength(server, name), before + 1, 'only the new change was journaled')
})

test('another user\'s change that a dead instance journaled and passed to this client only is accepted in its resync, not refused as someone else\'s', async () => {
  const name = 's1/doc/resync-foreign'
  const watcher = await open(server, name, teacher('t3'))
  // t2 wrote through the dead instance, which journaled it (claiming the client id for t2) and
  // sent it to t1, who was connected there, but not through Redis to this instance.
  const theirs = new Y.Doc()
  theirs.getMap('meta').set('title', 'By t2')
  await server.app.store.claimClients(name, [theirs.clientID], 't2')
  await server.app.store.record(name, { at: Date.now(), user: 't2', origin: 'client', update: Y.encodeStateAsUpdate(theirs) })
  const copy = new Y.Doc()
  Y.applyUpdate(copy, Y.encodeStateAsUpdate(theirs))
  copy.getMap('meta').set('subtitle', 'By t1')
  const before = await journalLength(server, name)
  const client = await open(server, name, teacher('t1'), { doc: copy })
  await client.acknowledged()
  await until(() => watcher.doc.getMap('meta').get('subtitle') === 'By t1', { what: 't1\'s change reaching the other client' })
  assert.is(watcher.doc.getMap('meta').get('title'), 'By t2')
  assert.is(await journalLength(server, name), before + 1, 't1\'s change journaled, t2\'s not again')
})

test.run()
