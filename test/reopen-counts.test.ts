// A session-aware provider that closes a document and opens it again on the same socket is a new
// connection under a new address, which Hocuspocus sets up at once, while the old connection's
// close waits behind the message it is handling (here a journal append the store holds back).
// Each connection is counted once and uncounted once: the connections gauge (`extensions/limits.ts`)
// comes back to zero, where it kept one for ever (the chaos run, whose clients are session-aware,
// found `connections: 1` and `2` on instances after every client left).
import { join } from 'node:path'
import { HocuspocusProvider } from '@hocuspocus/provider'
import { test } from 'uvu'
import * as Y from 'yjs'
import { DEADLINE_MS, openSocket, until, within } from './helpers/clients.ts'
import { FaultyStore } from './helpers/faulty-store.ts'
import { useServer } from './helpers/server.ts'
import { mintToken, teacher } from './helpers/tokens.ts'

let store: FaultyStore
const server = useServer({}, (dataDir) => ({ store: (store = new FaultyStore(join(dataDir, 'homeroom.db'))) }))

const connections = async () => (await server.app.metrics.connections.get()).values[0]?.value ?? 0

test('a document reopened on its socket before the old connection is gone: counted once each, zero after', async () => {
  const name = 's1/doc/reopen'
  const token = await mintToken(teacher('t1'))
  const socket = openSocket(server.url)
  const open = (doc: Y.Doc) => {
    let synced!: () => void
    const done = new Promise<void>((resolve) => (synced = resolve))
    const provider = new HocuspocusProvider({ websocketProvider: socket, name, document: doc, token, sessionAwareness: true, onSynced: () => synced() })
    provider.attach()
    return { provider, synced: done }
  }
  const doc = new Y.Doc()
  const first = open(doc)
  await within(first.synced, DEADLINE_MS, 'first sync')
  let release!: () => void
  store.hold = new Promise<void>((resolve) => (release = resolve))
  doc.getMap('meta').set('title', 'held back')
  await until(() => store.held > 0, { what: 'the append to be held' })
  first.provider.destroy()
  const second = open(new Y.Doc())
  await within(second.synced, DEADLINE_MS, 'second sync')
  await until(async () => (await connections()) === 2, { what: 'both connections counted' })
  store.hold = undefined
  release()
  await until(async () => (await connections()) === 1, { what: 'the old connection uncounted' })
  second.provider.destroy()
  socket.destroy()
  await until(async () => (await connections()) === 0, { what: 'no connection counted' })
})

test.run()
