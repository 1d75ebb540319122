// In Chromium, through the installed package and the app's own React: `useInbox()` shows a
// notification posted over HTTP and marks it read; `useExam()` shows the time left by the
// server's clock while the page's clock runs ten minutes ahead; a hook re-renders only when its
// part of the documents changes.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import type { Browser, BrowserContext, Page } from 'playwright-core'
import { useServer } from './helpers/server.ts'
import { chromiumAvailable, launch, screenshot } from './helpers/browser.ts'
import { bundlePages, servePages, type AppServer } from './helpers/client-app.ts'
import { until } from './helpers/clients.ts'
import { claims, mintToken, student } from './helpers/tokens.ts'
import { serverWrite } from '../server/writes.ts'

const SKEW_MS = 10 * 60_000
const EXAM = 'midterm'

const REACT_PAGE = `
import { createRoot } from 'react-dom/client'
import { Session } from '@homeroom/client'
import { HomeroomProvider, useConnection, useExam, useInbox } from '@homeroom/client/react'

const params = new URLSearchParams(location.search)
const session = new Session({ url: params.get('ws'), token: () => window.homeroomToken() })
const renders = (window.renders = { inbox: 0, exam: 0 })

function Connection() {
  const state = useConnection()
  return <p data-testid="connection" data-state={state}>{state}</p>
}

function Inbox() {
  renders.inbox++
  const { items, unread, markRead } = useInbox()
  return (
    <section>
      <p>Unread: <span data-testid="unread">{unread}</span></p>
      <ul>{items.map((item) => (
        <li key={item.id} data-testid="notification" data-read={String(item.read)}>
          {item.title} <button onClick={() => markRead(item.id)}>Mark read</button>
        </li>
      ))}</ul>
    </section>
  )
}

function Exam() {
  renders.exam++
  const { title, remainingMs, participants } = useExam('s1', params.get('exam'))
  return (
    <section>
      <h2 data-testid="exam-title">{title}</h2>
      <p>Left: <span data-testid="remaining" data-ms={remainingMs ?? ''}>{remainingMs === undefined ? '—' : Math.round(remainingMs / 60000) + ' min'}</span></p>
      <p>Students: <span data-testid="participants">{participants}</span></p>
    </section>
  )
}

createRoot(document.getElementById('root')).render(
  <HomeroomProvider session={session} fallback={<p>Signing in…</p>}>
    <Connection /><Inbox /><Exam />
  </HomeroomProvider>,
)
`

if (chromiumAvailable()) {
  const server = useServer()
  let browser: Browser
  let pages: AppServer
  test.before(async () => {
    pages = await servePages(await bundlePages({ react: REACT_PAGE }))
    browser = await launch()
  })
  test.after(async () => {
    await browser?.close()
    await pages?.close()
  })

  async function openPage(): Promise<{ context: BrowserContext; page: Page; errors: string[] }> {
    const context = await browser.newContext()
    await context.exposeFunction('homeroomToken', () => mintToken(student('u1', { classes: ['7a'] })))
    const page = await context.newPage()
    const errors: string[] = []
    page.on('pageerror', (error) => errors.push(error.message))
    page.on('console', (message) => message.type() === 'error' && errors.push(message.text()))
    // The device clock runs ten minutes ahead of the server's (and keeps running).
    await page.clock.setSystemTime(Date.now() + SKEW_MS)
    await page.goto(`${pages.origin}/react.html?${new URLSearchParams({ ws: server.url, exam: EXAM })}`)
    await page.waitForSelector('[data-testid="connection"][data-state="online"]')
    return { context, page, errors }
  }

  test('useInbox shows a notification posted over HTTP and marks it read', async () => {
    const { context, page, errors } = await openPage()
    try {
      const response = await fetch(`${server.http}/api/v1/notifications`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${await mintToken(claims.admin('a1'))}` },
        body: JSON.stringify({ school: 's1', targets: { users: ['u1'] }, type: 'notice', title: 'Field trip on Friday', body: 'Bring a packed lunch' }),
      })
      assert.is(response.status, 202)
      const item = page.locator('[data-testid="notification"]', { hasText: 'Field trip on Friday' })
      await item.waitFor()
      assert.is(await page.textContent('[data-testid="unread"]'), '1')
      await item.getByRole('button', { name: 'Mark read' }).click()
      await page.waitForSelector('[data-testid="notification"][data-read="true"]')
      assert.is(await page.textContent('[data-testid="unread"]'), '0')
      await until(async () => (await server.app.peek('s1/inbox/u1')).getMap('read').size === 1, { what: 'the read mark on the server' })
      await screenshot(page, 'react-inbox')
      assert.equal(errors, [])
    } finally {
      await context.close()
    }
  })

  test('useExam shows the time left by the server’s clock on a page whose clock is ten minutes off; the inbox does not re-render for it', async () => {
    const startsAt = Date.now() - 60_000
    await serverWrite(server.app.hocuspocus, `s1/exam/${EXAM}`, (doc) => {
      const meta = doc.getMap('meta')
      meta.set('title', 'Midterm')
      meta.set('status', 'open')
      meta.set('startsAt', startsAt)
      meta.set('durationSec', 30 * 60)
    })
    const { context, page, errors } = await openPage()
    try {
      const skew = (await page.evaluate(() => Date.now())) - Date.now()
      assert.ok(Math.abs(skew - SKEW_MS) < 60_000, `the page's clock is ${skew} ms off`)
      await page.waitForSelector('[data-testid="remaining"][data-ms]:not([data-ms=""])')
      const shown = Number(await page.getAttribute('[data-testid="remaining"]', 'data-ms'))
      const expected = startsAt + 30 * 60_000 - Date.now()
      // The device clock alone would show about 19 minutes.
      assert.ok(Math.abs(shown - expected) < 15_000, `shows ${shown} ms left, the server's clock says ${expected} ms`)
      assert.is(await page.textContent('[data-testid="participants"]'), '1')

      const inboxRenders = await page.evaluate(() => (window as any).renders.inbox)
      await serverWrite(server.app.hocuspocus, `s1/exam/${EXAM}`, (doc) => doc.getMap('meta').set('title', 'Midterm (room 12)'))
      await page.waitForSelector('[data-testid="exam-title"]:text("Midterm (room 12)")')
      assert.is(await page.evaluate(() => (window as any).renders.inbox), inboxRenders, 'the inbox did not re-render for an exam change')
      await screenshot(page, 'react-exam')
      assert.equal(errors, [])
    } finally {
      await context.close()
    }
  })

  test.run()
}
