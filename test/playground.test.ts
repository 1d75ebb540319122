// The playground's routes exist only in playground mode; its dev tokens are real and limited.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { startServer } from './helpers/server.ts'

const post = (url: string, body: unknown) => fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) })

test('without PLAYGROUND there is no page and no token minting', async () => {
  const server = await startServer()
  try {
    assert.is((await fetch(`${server.http}/`)).status, 404)
    assert.is((await fetch(`${server.http}/playground/playground.js`)).status, 404)
    assert.is((await post(`${server.http}/playground/token`, { school: 's1', sub: 'u1', role: 'student' })).status, 404)
  } finally {
    await server.stop()
  }
})

test('with PLAYGROUND the page, its bundle and dev tokens are served', async () => {
  const server = await startServer({ PLAYGROUND: '1' })
  try {
    const page = await fetch(`${server.http}/`)
    assert.is(page.status, 200)
    assert.match(page.headers.get('content-type') ?? '', /text\/html/)
    assert.match(await page.text(), /playground\.js/)
    const bundle = await fetch(`${server.http}/playground/playground.js`)
    assert.is(bundle.status, 200)
    assert.ok((await bundle.text()).length > 10_000, 'the bundle was built')
    assert.is((await fetch(`${server.http}/playground/nothing.js`)).status, 404)

    const minted = await post(`${server.http}/playground/token`, { school: 's1', sub: 'u1', role: 'student' })
    assert.is(minted.status, 200)
    const identity = await server.app.identities.verify(((await minted.json()) as { token: string }).token)
    assert.is(identity.role, 'student')
    assert.equal(identity.schools, ['s1'])
    assert.is((await post(`${server.http}/playground/token`, { school: 's1', sub: 'x', role: 'service' })).status, 400)
    assert.is((await post(`${server.http}/playground/token`, { school: '../etc', sub: 'u1', role: 'student' })).status, 400)
    // The demo content was seeded once for the school.
    assert.is((await server.app.peek('s1/poll/demo')).getMap('meta').get('options') instanceof Array, true)
  } finally {
    await server.stop()
  }
})

test.run()
