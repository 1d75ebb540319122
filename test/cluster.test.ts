// Three instances in separate processes, joined through Redis and sharing PostgreSQL: clients
// on different instances see each other's changes and presence, converge, and the journal holds
// each accepted update exactly once.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import * as Y from 'yjs'
import { Redis as IORedis } from 'ioredis'
import { PgStore } from '../server/store/postgres.ts'
import { replay } from '../server/history/replay.ts'
import { closeClients, connect, DEADLINE_MS, until, within, type Client } from './helpers/clients.ts'
import { checkJournal, converged, startTestCluster } from './helpers/cluster.ts'
import { mintToken, student } from './helpers/tokens.ts'
import { closeYClients, connectY } from './helpers/ywebsocket.ts'

const cluster = await startTestCluster('cluster', 3)

if (cluster) {
  test.after.each(() => {
    closeClients()
    closeYClients()
  })
  test.after(() => cluster.stop())

  const open = async (instance: number, name: string, sub: string): Promise<Client> => connect(cluster.instances[instance].url, name, await mintToken(student(sub)))

  test('sixty clients on three instances editing the same documents converge; the journal holds each update once', async () => {
    const DOCS = ['s1/doc/shared-0', 's1/doc/shared-1']
    const EDITS = 10
    const clients = await Promise.all(Array.from({ length: 60 }, (_, i) => open(i % 3, DOCS[i % 2], `u${i}`)))
    await within(Promise.all(clients.map((c) => c.synced)), DEADLINE_MS, 'sixty clients syncing')
    await Promise.all(
      clients.map(async (client, i) => {
        for (let k = 0; k < EDITS; k++) {
          client.doc.transact(() => {
            client.doc.getMap('comments').set(`u${i}:${k}`, { text: `from u${i}, edit ${k}`, at: Date.now() })
            const body = client.doc.getXmlFragment('body')
            body.insert(Math.floor(Math.random() * (body.length + 1)), [new Y.XmlText(`u${i}-${k} `)])
          })
          await new Promise((r) => setImmediate(r))
        }
      }),
    )
    await within(Promise.all(clients.map((c) => c.acknowledged())), DEADLINE_MS, 'acknowledgements')
    for (const [d, name] of DOCS.entries()) {
      const editors = clients.filter((_, i) => i % 2 === d)
      await converged(editors, 20_000, `${name} converging`)
      const state = editors[0].doc
      assert.is(state.getMap('comments').size, 30 * EDITS, `${name}: every comment arrived`)
      assert.is(state.getXmlFragment('body').length, 30 * EDITS, `${name}: every paragraph arrived`)
      const body = state.getXmlFragment('body').toString()
      for (const editor of editors) assert.is(editor.doc.getXmlFragment('body').toString(), body)
      const journal = await checkJournal(cluster.db.url, name, state)
      assert.equal(journal.duplicates, [], `${name}: nothing journaled twice`)
      assert.equal(journal.missing, [], `${name}: nothing missing from the journal`)
      assert.is(journal.entries, 30 * EDITS, `${name}: one journal entry per update`)
    }
  })

  test('presence crosses instances', async () => {
    const a = await open(0, 's1/doc/presence', 'p1')
    const c = await open(2, 's1/doc/presence', 'p2')
    await within(Promise.all([a.synced, c.synced]), DEADLINE_MS, 'sync')
    a.provider.setAwarenessField('cursor', { anchor: 42 })
    await until(() => [...c.provider.awareness!.getStates().values()].some((s) => s.cursor?.anchor === 42 && s.user?.id === 'p1'), { what: 'presence of p1 on the third instance' })
    a.destroy()
    await until(() => ![...c.provider.awareness!.getStates().values()].some((s) => s.user?.id === 'p1'), { what: 'presence of p1 gone once it left' })
  })

  test('a document opened on another instance after a change starts from the latest state, also from storage alone', async () => {
    const writer = await open(0, 's1/doc/later', 'w1')
    await within(writer.synced, DEADLINE_MS, 'writer sync')
    writer.doc.getMap('comments').set('w1:1', { text: 'written on the first instance', at: Date.now() })
    await writer.acknowledged()
    const reader = await open(1, 's1/doc/later', 'r1')
    await within(reader.synced, DEADLINE_MS, 'reader sync')
    assert.is((reader.doc.getMap('comments').get('w1:1') as { text: string }).text, 'written on the first instance')
    const store = new PgStore(cluster.db.url, { poolSize: 1 })
    try {
      const stored = (await replay(store, 's1/doc/later')).doc
      assert.equal(stored.getMap('comments').toJSON(), writer.doc.getMap('comments').toJSON())
    } finally {
      await store.close()
    }
  })

  test('a stock y-websocket client on one instance and a provider on another converge, journaled once', async () => {
    const name = 's1/doc/mixed'
    const y = connectY(cluster.instances[0].url, name, await mintToken(student('y1')))
    const hp = await open(1, name, 'h1')
    await within(Promise.all([y.synced, hp.synced]), DEADLINE_MS, 'both synced')
    y.doc.getXmlFragment('body').insert(0, [new Y.XmlText('from y-websocket ')])
    hp.doc.getXmlFragment('body').insert(0, [new Y.XmlText('from hocuspocus ')])
    const text = (doc: Y.Doc) => doc.getXmlFragment('body').toString()
    await until(() => text(y.doc).includes('from hocuspocus') && text(hp.doc).includes('from y-websocket'), { what: 'both edits on both instances' })
    await hp.acknowledged()
    await until(() => text(y.doc) === text(hp.doc), { what: 'same text' })
    const journal = await checkJournal(cluster.db.url, name, hp.doc)
    assert.equal(journal.duplicates, [])
    assert.equal(journal.missing, [])
  })

  test('no sticky sessions: a client edits offline and reconnects to another instance; its edits reach everyone, journaled once', async () => {
    const name = 's1/doc/roaming'
    const token = await mintToken(student('roamer'))
    const first = connect(cluster.instances[0].url, name, token)
    const watcher = await open(2, name, 'watcher')
    await within(Promise.all([first.synced, watcher.synced]), DEADLINE_MS, 'sync')
    const comments = first.doc.getMap('comments')
    comments.set('roamer:online', { text: 'while connected to the first instance', at: Date.now() })
    await first.acknowledged()
    first.provider.destroy()
    first.socket.destroy()
    comments.set('roamer:offline', { text: 'written offline', at: Date.now() })
    const second = connect(cluster.instances[1].url, name, token, { doc: first.doc })
    await within(second.synced, DEADLINE_MS, 'sync with the second instance')
    await second.acknowledged()
    await converged([second, watcher], 10_000, 'the watcher on the third instance has both edits')
    assert.ok(watcher.doc.getMap('comments').has('roamer:offline'))
    const journal = await checkJournal(cluster.db.url, name, watcher.doc)
    assert.equal(journal.duplicates, [])
    assert.equal(journal.missing, [])
  })

  test('once every client left, no instance keeps a document or a subscription', async () => {
    const clients = await Promise.all([0, 1, 2].map((i) => open(i, 's1/doc/leaving', `l${i}`)))
    await within(Promise.all(clients.map((c) => c.synced)), DEADLINE_MS, 'sync')
    clients[0].doc.getMap('comments').set('l0:1', { text: 'bye', at: Date.now() })
    await converged(clients, 10_000, 'converging')
    closeClients()
    const loaded = async (http: string) => Number(/^homeroom_documents_loaded (\d+)/m.exec(await (await fetch(`${http}/metrics`)).text())?.[1])
    await until(async () => (await Promise.all(cluster.instances.map((i) => loaded(i.http)))).every((n) => n === 0), { what: 'documents unloaded everywhere' })
    const redis = new IORedis(cluster.redisUrl)
    try {
      const [, subscribers] = (await redis.pubsub('NUMSUB', `${cluster.prefix}s1/doc/leaving`)) as [string, number]
      assert.is(Number(subscribers), 0, 'no instance still subscribed')
    } finally {
      redis.disconnect()
    }
  })

  test.run()
}
