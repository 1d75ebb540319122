// Stateless messages: screen-share signaling on boards reaches only the addressed user's
// connections on that board, with `from` set by the server; everything else is dropped and counted.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { useServer } from './helpers/server.ts'
import { closeClients, connect, DEADLINE_MS, until, within, type Client } from './helpers/clients.ts'
import { mintToken, student, teacher } from './helpers/tokens.ts'
import type { Claims } from '../server/identity.ts'
import { readClockMessage } from '../docs-model/clock-message.ts'

const server = useServer()
test.after.each(closeClients)

async function open(name: string, claims: Claims): Promise<Client & { inbox: unknown[] }> {
  const client = connect(server.url, name, await mintToken(claims))
  const inbox: unknown[] = []
  // Every connection also gets the server's clock message (extensions/server-clock.ts): not signaling.
  client.provider.on('stateless', ({ payload }: { payload: string }) => readClockMessage(payload) === undefined && inbox.push(JSON.parse(payload)))
  await within(client.synced, DEADLINE_MS, `${claims.sub} sync`)
  return Object.assign(client, { inbox })
}

async function dropped(reason: string): Promise<number> {
  const metric = await server.app.metrics.registry.getSingleMetric('homeroom_stateless_dropped_total')!.get()
  return metric.values.find((v) => v.labels.reason === reason)?.value ?? 0
}

test('a signal reaches only the addressed user, on every connection they have, with from set by the server', async () => {
  const board = 's1/board/share'
  const presenter = await open(board, student('u1'))
  const viewer = await open(board, teacher('t1'))
  const viewerElsewhere = await open(board, teacher('t1'))
  const bystander = await open(board, student('u2'))
  presenter.provider.sendStateless(JSON.stringify({ type: 'offer', to: 't1', from: 'forged', payload: { sdp: 'v=0' } }))
  await until(() => viewer.inbox.length === 1 && viewerElsewhere.inbox.length === 1, { what: 'the offer' })
  assert.equal(viewer.inbox[0], { type: 'offer', to: 't1', from: 'u1', payload: { sdp: 'v=0' } })
  assert.equal(viewerElsewhere.inbox[0], viewer.inbox[0])
  // Relayed in order: the bystander's first message is the one addressed to them.
  presenter.provider.sendStateless(JSON.stringify({ type: 'ice', to: 'u2', payload: { candidate: 'c1' } }))
  await until(() => bystander.inbox.length === 1, { what: 'the ice candidate' })
  assert.equal(bystander.inbox[0], { type: 'ice', to: 'u2', from: 'u1', payload: { candidate: 'c1' } })
  assert.is(presenter.inbox.length, 0)
  viewer.provider.sendStateless(JSON.stringify({ type: 'answer', to: 'u1', payload: { sdp: 'ok' } }))
  await until(() => presenter.inbox.length === 1, { what: 'the answer' })
  assert.equal(presenter.inbox[0], { type: 'answer', to: 'u1', from: 't1', payload: { sdp: 'ok' } })
})

test('anything else is dropped and counted: other types, bad JSON, other surfaces, absent recipients, oversized payloads', async () => {
  const sender = await open('s1/board/drop', student('u1'))
  const receiver = await open('s1/board/drop', teacher('t1'))
  const onDoc = await open('s1/doc/drop', student('u1'))
  const docReceiver = await open('s1/doc/drop', teacher('t1'))
  const before = {
    notSignaling: await dropped('not-signaling'),
    notJson: await dropped('not-json'),
    notBoard: await dropped('not-a-board'),
    noRecipient: await dropped('no-recipient'),
    tooLarge: await dropped('too-large'),
  }
  sender.provider.sendStateless(JSON.stringify({ type: 'chat', to: 't1', payload: 'hi' }))
  sender.provider.sendStateless('not json')
  onDoc.provider.sendStateless(JSON.stringify({ type: 'offer', to: 't1', payload: {} }))
  sender.provider.sendStateless(JSON.stringify({ type: 'offer', to: 'nobody', payload: {} }))
  sender.provider.sendStateless(JSON.stringify({ type: 'offer', to: 't1', payload: 'x'.repeat(70 * 1024) }))
  await until(async () => (await dropped('too-large')) === before.tooLarge + 1, { what: 'the drops to be counted' })
  assert.is(await dropped('not-signaling'), before.notSignaling + 1)
  assert.is(await dropped('not-json'), before.notJson + 1)
  assert.is(await dropped('not-a-board'), before.notBoard + 1)
  assert.is(await dropped('no-recipient'), before.noRecipient + 1)
  // A valid signal sent last arrives first: nothing before it was relayed.
  sender.provider.sendStateless(JSON.stringify({ type: 'ice', to: 't1', payload: 1 }))
  await until(() => receiver.inbox.length === 1, { what: 'the valid signal' })
  assert.equal(receiver.inbox, [{ type: 'ice', to: 't1', from: 'u1', payload: 1 }])
  assert.is(docReceiver.inbox.length, 0)
})

test.run()
