// End to end in headless Chromium: two pages editing one rich-text document (text and cursors),
// and a page that goes offline, edits, reloads offline and merges when it comes back.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import type { Page } from 'playwright-core'
import { chromiumAvailable, openPlayground, screenshot, usePlayground } from './helpers/browser.ts'
import { serverWrite } from '../server/writes.ts'


/** The editor's text without the remote cursors' name labels. */
const editorText = (page: Page) =>
  page.evaluate(() => {
    const copy = document.querySelector('[data-testid="editor"] .ProseMirror')!.cloneNode(true) as HTMLElement
    for (const cursor of copy.querySelectorAll('.ProseMirror-yjs-cursor')) cursor.remove()
    return copy.textContent ?? ''
  })

async function typeInEditor(page: Page, text: string): Promise<void> {
  const editor = page.locator('[data-testid="editor"] .ProseMirror')
  await editor.click()
  await page.keyboard.press('End')
  await page.keyboard.type(text)
}

if (chromiumAvailable()) {
  const playground = usePlayground()
  const { server } = playground

  test('two pages edit the same document and see each other’s text and cursor', async () => {
    const teacher = await openPlayground(playground.browser, server.http, { user: 't1', role: 'teacher' })
    const student = await openPlayground(playground.browser, server.http, { user: 'u1', role: 'student' })
    try {
      await typeInEditor(student.page, 'Ada writes here.')
      await teacher.page.waitForFunction(() => document.querySelector('[data-testid="editor"] .ProseMirror')?.textContent?.includes('Ada writes here.'))
      // The student's caret shows in the teacher's editor, labelled with the name from her token.
      const cursor = teacher.page.locator('.ProseMirror-yjs-cursor', { hasText: 'Ada' })
      await cursor.waitFor({ timeout: 10_000 })

      await typeInEditor(teacher.page, ' Ms. Rivera answers.')
      await student.page.waitForFunction(() => document.querySelector('[data-testid="editor"] .ProseMirror')?.textContent?.includes('Ms. Rivera answers.'))
      await student.page.locator('.ProseMirror-yjs-cursor', { hasText: 'Ms. Rivera' }).waitFor({ timeout: 10_000 })
      assert.is(await editorText(student.page), await editorText(teacher.page))
      await screenshot(teacher.page, 'editor-two-pages')
    } finally {
      await teacher.context.close()
      await student.context.close()
    }
  })

  test('a page goes offline, edits, reloads offline, comes back and merges with a concurrent edit', async () => {
    const offline = await openPlayground(playground.browser, server.http, { user: 'u2', role: 'student' })
    const online = await openPlayground(playground.browser, server.http, { user: 't1', role: 'teacher' })
    try {
      // The page shell must be cached by the service worker before the network goes away.
      await offline.page.evaluate(() => navigator.serviceWorker.ready.then(() => undefined))
      await offline.context.setOffline(true)
      await offline.page.waitForSelector('[data-testid="connection"][data-state="offline"]', { timeout: 15_000 })
      await typeInEditor(offline.page, ' Ben was offline.')
      await typeInEditor(online.page, ' Teacher stayed online.')

      await offline.page.reload()
      await offline.page.waitForFunction(() => document.querySelector('[data-testid="editor"] .ProseMirror')?.textContent?.includes('Ben was offline.'), undefined, { timeout: 15_000 })
      assert.is(await offline.page.getAttribute('[data-testid="connection"]', 'data-state'), 'offline')
      assert.not.ok((await editorText(offline.page)).includes('Teacher stayed online.'), 'an offline page cannot know the concurrent edit yet')
      await screenshot(offline.page, 'offline-after-reload')

      await offline.context.setOffline(false)
      await offline.page.waitForSelector('[data-testid="connection"][data-state="online"]', { timeout: 20_000 })
      for (const page of [offline.page, online.page]) {
        await page.waitForFunction(
          () => {
            const text = document.querySelector('[data-testid="editor"] .ProseMirror')?.textContent ?? ''
            return text.includes('Ben was offline.') && text.includes('Teacher stayed online.')
          },
          undefined,
          { timeout: 15_000 },
        )
      }
      assert.is(await editorText(offline.page), await editorText(online.page))
    } finally {
      await offline.context.close()
      await online.context.close()
    }
  })

  test('answers given offline to an exam that closed meanwhile are dropped, reported, and gone after a reload', async () => {
    const student = await openPlayground(playground.browser, server.http, { user: 'u1', role: 'student' })
    try {
      const page = student.page
      await page.locator('[data-testid="answer-0-0"]').check()
      await page.waitForSelector('[data-testid="connection"][data-state="online"]')
      await student.context.setOffline(true)
      await page.waitForSelector('[data-testid="connection"][data-state="offline"]')
      await page.locator('[data-testid="answer-1-1"]').check()
      await serverWrite(server.app.hocuspocus, 's1/exam/demo', (doc) => doc.getMap('meta').set('status', 'closed'))
      await student.context.setOffline(false)
      await page.locator('.toast', { hasText: 'Not accepted (frozen' }).waitFor({ timeout: 15_000 })
      await page.waitForFunction(() => !(document.querySelector('[data-testid="answer-1-1"]') as HTMLInputElement).checked)
      assert.ok(await page.locator('[data-testid="answer-0-0"]').isChecked(), 'the answer the server accepted stays')
      await page.waitForSelector('[data-testid="connection"][data-state="online"]', { timeout: 10_000 })
      await screenshot(page, 'exam-frozen-recovery')
      await page.reload()
      await page.waitForSelector('[data-testid="connection"][data-state="online"]')
      await page.locator('[data-testid="answer-0-0"]:checked').waitFor()
      assert.not.ok(await page.locator('[data-testid="answer-1-1"]').isChecked(), 'the refused answer came back from IndexedDB')
    } finally {
      await student.context.close()
    }
  })

  test.run()
}
