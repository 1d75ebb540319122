// In Chromium, through the installed package: a chat message written offline is kept across a
// reload and delivered when the network returns, although the token the app hands out after the
// reload has expired meanwhile: the server answers `unauthenticated`, the session asks the app's
// token function again and sends the message with the new token. Offline is a WebSocket route
// that refuses and cuts connections; the page itself still loads.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import type { Browser, BrowserContext, Page, WebSocketRoute } from 'playwright-core'
import { useServer } from './helpers/server.ts'
import { chromiumAvailable, launch } from './helpers/browser.ts'
import { bundlePages, servePages, type AppServer } from './helpers/client-app.ts'
import { until } from './helpers/clients.ts'
import { mintToken, mintTokenWithTimes, nowS, student } from './helpers/tokens.ts'

const ROOM = 's1/chat/bus-ride'

const CHAT_PAGE = `
import { Session, ChatClient } from '@homeroom/client'
const params = new URLSearchParams(location.search)
const session = new Session({ url: params.get('ws'), token: () => window.homeroomToken() })
const refusals = []
await session.ready
const chat = new ChatClient(session, params.get('room'))
chat.handle.on('refused', (refusal) => refusals.push(refusal.reason))
window.app = {
  send: (text) => chat.send(text).id,
  messages: () => chat.messages().map((m) => m.text),
  state: () => session.state(),
  pending: () => chat.handle.pendingPaths(),
  refusals,
  loaded: chat.handle.ready.then(() => true),
}
`

/** The network as the page sees it: WebSockets pass through while online, are cut and refused while offline. */
async function network(context: BrowserContext) {
  let online = true
  const open = new Set<WebSocketRoute>()
  await context.routeWebSocket(/^ws:\/\/127\.0\.0\.1/, (ws) => {
    if (!online) return ws.close({ code: 1006 })
    const server = ws.connectToServer()
    open.add(ws)
    ws.onClose(() => {
      open.delete(ws)
      void server.close()
    })
  })
  return {
    set online(value: boolean) {
      online = value
      if (!value) for (const ws of open) void ws.close({ code: 1006 })
    },
  }
}

if (chromiumAvailable()) {
  const server = useServer()
  let browser: Browser
  let pages: AppServer
  test.before(async () => {
    pages = await servePages(await bundlePages({ chat: CHAT_PAGE }))
    browser = await launch()
  })
  test.after(async () => {
    await browser?.close()
    await pages?.close()
  })

  test('a message written offline survives a reload and is delivered through the token function after its token expired', async () => {
    const context = await browser.newContext()
    try {
      const net = await network(context)
      // Hands out what the test queues, then fresh tokens: like an app's token endpoint.
      const queued: string[] = []
      let calls = 0
      await context.exposeFunction('homeroomToken', async () => {
        calls += 1
        return queued.shift() ?? mintToken(student('u1'))
      })
      const url = `${pages.origin}/chat.html?${new URLSearchParams({ ws: server.url, room: ROOM })}`
      const page: Page = await context.newPage()
      const errors: string[] = []
      page.on('pageerror', (error) => errors.push(error.message))
      await page.goto(url)
      await page.waitForFunction(() => (window as any).app?.state() === 'online')

      net.online = false
      await page.waitForFunction(() => (window as any).app.state() === 'offline')
      await page.evaluate(() => (window as any).app.send('written on the bus'))
      assert.equal(await page.evaluate(() => (window as any).app.pending()), ['messages'], 'the message is pending')

      // After the reload the app still has only the token it had stored, expired by now.
      const expired = await mintTokenWithTimes(student('u1'), { iat: nowS() - 120, exp: nowS() - 60 })
      queued.push(expired, expired)
      await page.reload()
      await page.waitForFunction(() => (window as any).app?.loaded)
      assert.ok((await page.evaluate(() => (window as any).app.messages())).includes('written on the bus'), 'the reload kept the offline message')
      const callsBefore = calls

      net.online = true
      await until(async () => {
        const stored = (await server.app.peek(ROOM)).getArray('messages').toArray() as Array<{ text: string }>
        return stored.some((m) => m.text === 'written on the bus')
      }, { what: 'the offline message on the server' })
      await page.waitForFunction(() => (window as any).app.state() === 'online')
      assert.ok(calls - callsBefore >= 2, `the token function was asked again after the expired token (${calls - callsBefore} calls)`)
      assert.equal(await page.evaluate(() => (window as any).app.refusals), [], 'an expired token with a token function is not a refusal')
      assert.equal(await page.evaluate(() => (window as any).app.pending()), [], 'nothing left unacknowledged')
      assert.equal(errors, [])
    } finally {
      await context.close()
    }
  })

  test.run()
}
