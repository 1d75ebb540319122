// A session-aware provider that closes a document and opens it again on the same socket is a new
// connection under a new address, which Hocuspocus sets up at once, while the old connection's
// close waits behind the message it is handling (here a journal append the store holds back).
// Each connection is counted once and uncounted once: the connections gauge (`extensions/limits.ts`)
// comes back to zero, where it kept one for ever (the chaos run, whose clients are session-aware,
// found `connections: 1` and `2` on instances after every client left); and the exam monitor
// keeps a student online while the new connection is open, where the old one's leaving took the
// socket, and with it the student, offline; connection events keep the user connected likewise.
import { join } from 'node:path'
import { HocuspocusProvider } from '@hocuspocus/provider'
import { test } from 'uvu'
import * as Y from 'yjs'
import * as assert from 'uvu/assert'
import { answer } from '../docs-model/surfaces/exam/surface.ts'
import { DEADLINE_MS, openSocket, until, within } from './helpers/clients.ts'
import { openExam } from './helpers/classroom.ts'
import { docJson } from './helpers/safety.ts'
import { FaultyStore } from './helpers/faulty-store.ts'
import { useServer } from './helpers/server.ts'
import { mintToken, student, teacher } from './helpers/tokens.ts'

let store: FaultyStore
const server = useServer({}, (dataDir) => ({ store: (store = new FaultyStore(join(dataDir, 'homeroom.db'))) }))

const connections = async () => (await server.app.metrics.connections.get()).values[0]?.value ?? 0

/**
 * Opens `name` with a session-aware provider on `socket`, makes `change` while journal appends are
 * held, closes it and opens the document again on the same socket; resolves with the new
 * provider and its doc once the old connection's disconnect came.
 */
async function reopen(name: string, token: string, socket: ReturnType<typeof openSocket>, change: (doc: Y.Doc) => void) {
  const open = (doc: Y.Doc) => {
    let synced!: () => void
    const done = new Promise<void>((resolve) => (synced = resolve))
    const provider = new HocuspocusProvider({ websocketProvider: socket, name, document: doc, token, sessionAwareness: true, onSynced: () => synced() })
    provider.attach()
    return { provider, doc, synced: done }
  }
  const first = open(new Y.Doc())
  await within(first.synced, DEADLINE_MS, 'first sync')
  let release!: () => void
  store.hold = new Promise<void>((resolve) => (release = resolve))
  change(first.doc)
  await until(() => store.held > 0, { what: 'the append to be held' })
  first.provider.destroy()
  const second = open(first.doc)
  await within(second.synced, DEADLINE_MS, 'second sync')
  await until(async () => (await connections()) === 2, { what: 'both connections counted' })
  store.hold = undefined
  release()
  await until(async () => (await connections()) === 1, { what: 'the old connection uncounted' })
  return second
}

test('a document reopened on its socket before the old connection is gone: counted once each, zero after', async () => {
  const socket = openSocket(server.url)
  const second = await reopen('s1/doc/reopen', await mintToken(teacher('t1')), socket, (doc) => doc.getMap('meta').set('title', 'held back'))
  // Connection events (GET /api/v1/stats, user.connected/disconnected) still see the user's socket.
  const users = () => server.app.stats().users as Record<string, { sockets: number }>
  assert.is(users().t1?.sockets, 1, 'the user still connected')
  second.provider.destroy()
  socket.destroy()
  await until(async () => (await connections()) === 0, { what: 'no connection counted' })
  await until(() => users().t1 === undefined, { what: 'the user gone from the connection events' })
})

test('a student reopening their sheet on its socket stays online on the monitor until the new connection leaves', async () => {
  await openExam(server.url, 's1/exam/e1', 2)
  const entry = async () => (await docJson(server, 's1/exam/e1/monitor')).students?.u1 as { online?: boolean; answered?: number } | undefined
  const socket = openSocket(server.url)
  const second = await reopen('s1/exam/e1/student/u1', await mintToken(student('u1')), socket, (doc) => answer(doc, 0, 1, Date.now()))
  // A later change flushes the monitor writes that the old connection's leaving queued.
  answer(second.doc, 1, 0, Date.now())
  await until(async () => (await entry())?.answered === 2, { what: 'both answers on the monitor' })
  assert.is((await entry())?.online, true, 'online while the new connection is open')
  second.provider.destroy()
  socket.destroy()
  await until(async () => (await entry())?.online === false, { what: 'offline once it left' })
})

test.run()
