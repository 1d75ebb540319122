// Screen-share signaling across instances: a presenter on one instance, viewers on another, a
// board held by both. A signal reaches the addressed user's connections wherever they are,
// through Redis, with `from` set by the sender's instance, and nobody else's.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { closeClients, connect, DEADLINE_MS, until, within, type Client } from './helpers/clients.ts'
import { startTestCluster } from './helpers/cluster.ts'
import { mintToken, student, teacher } from './helpers/tokens.ts'
import type { Claims } from '../server/identity.ts'
import { readClockMessage } from '../docs-model/clock-message.ts'

const cluster = await startTestCluster('signaling', 2)

if (cluster) {
  test.after.each(closeClients)
  test.after(() => cluster.stop())
  const [first, second] = cluster.instances

  async function open(url: string, name: string, claims: Claims): Promise<Client & { inbox: unknown[] }> {
    const client = connect(url, name, await mintToken(claims))
    const inbox: unknown[] = []
    // Every connection also gets the server's clock message: not signaling.
    client.provider.on('stateless', ({ payload }: { payload: string }) => readClockMessage(payload) === undefined && inbox.push(JSON.parse(payload)))
    await within(client.synced, DEADLINE_MS, `${claims.sub} sync`)
    return Object.assign(client, { inbox })
  }

  test('a signal crosses instances to the addressed user only, on each of their connections', async () => {
    const board = 's1/board/share-cluster'
    const presenter = await open(first.url, board, student('u1'))
    const viewer = await open(second.url, board, teacher('t1'))
    const viewerHere = await open(first.url, board, teacher('t1'))
    const bystander = await open(second.url, board, student('u2'))
    presenter.provider.sendStateless(JSON.stringify({ type: 'offer', to: 't1', from: 'forged', payload: { sdp: 'v=0' } }))
    await until(() => viewer.inbox.length === 1 && viewerHere.inbox.length === 1, { what: 'the offer on both instances' })
    assert.equal(viewer.inbox[0], { type: 'offer', to: 't1', from: 'u1', payload: { sdp: 'v=0' } })
    assert.equal(viewerHere.inbox[0], viewer.inbox[0])
    // Back the other way: the viewer on the second instance answers the presenter on the first.
    viewer.provider.sendStateless(JSON.stringify({ type: 'answer', to: 'u1', payload: { sdp: 'ok' } }))
    await until(() => presenter.inbox.length === 1, { what: 'the answer across instances' })
    assert.equal(presenter.inbox[0], { type: 'answer', to: 'u1', from: 't1', payload: { sdp: 'ok' } })
    // Relayed in order: the bystander's first message is the one addressed to them, so nothing
    // addressed to others reached them before.
    presenter.provider.sendStateless(JSON.stringify({ type: 'ice', to: 'u2', payload: { candidate: 'c1' } }))
    await until(() => bystander.inbox.length === 1, { what: 'the ice candidate' })
    assert.equal(bystander.inbox[0], { type: 'ice', to: 'u2', from: 'u1', payload: { candidate: 'c1' } })
    assert.is(viewer.inbox.length, 1, 'the viewer got only its offer')
    assert.is(viewerHere.inbox.length, 1)
    assert.is(presenter.inbox.length, 1, 'the presenter got only its answer')
  })

  test('a signal for another board does not cross over', async () => {
    const presenter = await open(first.url, 's1/board/one', student('u1'))
    const elsewhere = await open(second.url, 's1/board/two', teacher('t1'))
    const here = await open(second.url, 's1/board/one', teacher('t1'))
    presenter.provider.sendStateless(JSON.stringify({ type: 'offer', to: 't1', payload: 'one' }))
    await until(() => here.inbox.length === 1, { what: 'the offer on board one' })
    presenter.provider.sendStateless(JSON.stringify({ type: 'ice', to: 't1', payload: 'two' }))
    await until(() => here.inbox.length === 2, { what: 'the second signal' })
    assert.is(elsewhere.inbox.length, 0, 'nothing reached the same user on another board')
  })

  test.run()
}
