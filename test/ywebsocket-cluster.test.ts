// Redis fan-out reaches stock y-websocket clients too: a y-websocket client on one instance and a
// Hocuspocus provider on another edit one document and see each other's text and presence.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import * as Y from 'yjs'
import { startTestCluster, type TestCluster } from './helpers/cluster.ts'
import { closeClients, connect, DEADLINE_MS, until, within } from './helpers/clients.ts'
import { closeYClients, connectY } from './helpers/ywebsocket.ts'
import { mintToken, student, teacher } from './helpers/tokens.ts'

let cluster: TestCluster | undefined

test.before(async () => {
  cluster = await startTestCluster('ywebsocket', 2)
})
test.after.each(() => {
  closeClients()
  closeYClients()
})
test.after(async () => {
  await cluster?.stop()
})

const body = (doc: Y.Doc) => doc.getXmlFragment('body').toString()

test('a y-websocket client on one instance and a Hocuspocus provider on another converge', async () => {
  if (!cluster) {
    console.log('SKIPPED y-websocket across instances: Redis or PostgreSQL is not reachable')
    return
  }
  const [a, b] = cluster.instances
  const name = 's1/doc/across'
  const y = connectY(a.url, name, await mintToken(student('u1')))
  const hp = connect(b.url, name, await mintToken(teacher('t1')))
  await within(Promise.all([y.synced, hp.synced]), DEADLINE_MS, 'both synced')
  y.doc.getXmlFragment('body').insert(0, [new Y.XmlText('via y-websocket on A ')])
  hp.doc.getXmlFragment('body').insert(0, [new Y.XmlText('via hocuspocus on B ')])
  await until(() => body(y.doc).includes('on B') && body(hp.doc).includes('on A'), { what: 'edits across instances' })
  assert.is(body(y.doc), body(hp.doc))
  y.provider.awareness.setLocalStateField('cursor', { anchor: 5 })
  await until(() => [...hp.provider.awareness!.getStates().values()].some((s) => (s as { cursor?: { anchor: number } }).cursor?.anchor === 5), { what: 'presence across instances' })
})

test.run()
