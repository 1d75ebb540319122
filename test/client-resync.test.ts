// A change that builds on one the server never received (the instance it went to died before
// passing it on) is refused as `unavailable`, not as a forbidden write: the typed client keeps its
// copy, reopens, and the sync of the reopening delivers both changes. Nothing the user wrote is lost.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import WebSocket from 'ws'
import { useServer } from './helpers/server.ts'
import { until, within } from './helpers/clients.ts'
import { mintToken, teacher } from './helpers/tokens.ts'
import { Session } from '../docs-model/client/index.ts'

const server = useServer()

test('a change on a base the server lacks: the client reopens and both changes arrive', async () => {
  const name = 's1/doc/resync'
  const session = await Session.start({ url: server.url, token: () => mintToken(teacher()), WebSocketPolyfill: WebSocket })
  try {
    const handle = session.open(name)
    await within(handle.ready, 10_000, 'open')
    await until(() => handle.synced, { what: 'synced' })
    const meta = handle.doc.getMap('meta')
    // The lost change: made under the client's own id but, with the provider as its origin, never sent.
    handle.doc.transact(() => meta.set('title', 'Draft'), handle.provider)
    // The next change builds on it (a map entry replacing the last one at its key).
    meta.set('title', 'Final')
    let recovered = false
    handle.on('recovered', () => (recovered = true))
    await until(() => server.app.hocuspocus.documents.get(name)?.getMap('meta').get('title') === 'Final', { what: 'the change on the server after the reopening' })
    assert.not.ok(recovered, 'the copy was not dropped and reloaded')
    assert.is(meta.get('title'), 'Final')
    assert.is(handle.refusal, undefined)
  } finally {
    session.destroy()
  }
})

test.run()
