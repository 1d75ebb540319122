// The playground's history slider and "who wrote what", in headless Chromium with two users: a
// student and the teacher write the class notes, the teacher's contributions panel names both
// with their share, the slider (moved by keyboard) shows the notes as they were before the
// teacher wrote, "Restore" brings that back as a change the student's page receives live, and
// the whiteboard scrubs back stroke by stroke and counts strokes by author. Students see neither panel. Each view passes an
// axe-core scan and is screenshotted at 1400x900 and 390x844.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import type { Page } from 'playwright-core'
import { assertAccessible, chromiumAvailable, openPlayground, screenshots, tabTo, usePlayground } from './helpers/browser.ts'
import { until } from './helpers/clients.ts'
import { mintToken, teacher } from './helpers/tokens.ts'


if (chromiumAvailable()) {
  const playground = usePlayground()
  const { server } = playground

  const notesText = async (): Promise<string> => (await server.app.peek('s1/doc/notes')).getXmlFragment('body').toString()

  interface Entry {
    seq: number
    user: string | null
  }
  /** The document's history as the teacher's page reads it, oldest first. */
  async function history(name: string): Promise<Entry[]> {
    const response = await fetch(`${server.http}/api/v1/docs/${name}/history?limit=200`, { headers: { Authorization: `Bearer ${await mintToken(teacher('t1', { classes: ['7a'] }))}` } })
    assert.is(response.status, 200)
    return ((await response.json()) as { entries: Entry[] }).entries.sort((a, b) => a.seq - b.seq)
  }

  /** Moves the slider to `index` from its right end with the arrow keys, as a keyboard user would. */
  async function slideTo(page: Page, index: number): Promise<void> {
    const slider = page.locator('[data-testid="history-slider"]')
    await slider.focus()
    await page.keyboard.press('End')
    const max = Number(await slider.getAttribute('max'))
    for (let i = max; i > index; i--) await page.keyboard.press('ArrowLeft')
    assert.is(Number(await slider.inputValue()), index)
  }

  test('who wrote what, a slider back in time, and a restore the other user receives live', async () => {
    const student = await openPlayground(playground.browser, server.http, { user: 'u1', role: 'student' })
    const rivera = await openPlayground(playground.browser, server.http, { user: 't1', role: 'teacher' })
    try {
      assert.is(await student.page.locator('[data-testid="panel-history"], [data-testid="panel-contributions"]').count(), 0, 'students see no history')

      await student.page.locator('.editor .ProseMirror').click()
      await student.page.keyboard.type('Ada wrote this first.')
      await until(async () => (await notesText()).includes('Ada wrote this first.'), { what: 'the student’s notes on the server' })
      const editor = rivera.page.locator('[data-testid="panel-doc"] .ProseMirror')
      await editor.locator('text=Ada wrote this first.').waitFor()
      await editor.click()
      await rivera.page.keyboard.press('End')
      await rivera.page.keyboard.type(' Then Ms. Rivera added more.')
      await until(async () => (await notesText()).includes('Then Ms. Rivera added more.'), { what: 'the teacher’s notes on the server' })

      // Who wrote what: both by name, with what is still there, the text marked by author.
      const contributions = rivera.page.locator('[data-testid="contributions"]')
      await contributions.locator('[data-testid="contributor"][data-user="t1"]').waitFor({ timeout: 15_000 })
      const ada = contributions.locator('[data-testid="contributor"][data-user="u1"]')
      await ada.filter({ hasText: 'Ada' }).filter({ hasText: `${'Ada wrote this first.'.length} (` }).waitFor()
      await contributions.locator('[data-testid="contributor"][data-user="t1"]', { hasText: 'Ms. Rivera' }).filter({ hasText: `${' Then Ms. Rivera added more.'.length} (` }).waitFor()
      assert.match(await contributions.locator('.run[data-user="u1"]').first().innerText(), /Ada wrote this first\./)
      assert.match(await contributions.locator('.run[data-user="t1"]').first().innerText(), /Then Ms\. Rivera added more\./)

      // Back in time: the last change before the teacher's first one.
      const entries = await history('s1/doc/notes')
      const firstByTeacher = entries.findIndex((e) => e.user === 't1')
      assert.ok(firstByTeacher > 0, 'the student wrote first')
      await rivera.page.locator('[data-testid="history-refresh"]').click()
      await rivera.page.locator('[data-testid="history-when"]', { hasText: `Now: change ${entries.length} of ${entries.length}` }).waitFor()
      await tabTo(rivera.page, '[data-testid="history-slider"]')
      await slideTo(rivera.page, firstByTeacher - 1)
      const past = rivera.page.locator('[data-testid="panel-history"] [data-testid="past-content"]')
      await past.filter({ hasText: 'Ada wrote this first.' }).waitFor()
      assert.not.match(await past.innerText(), /Rivera/)
      assert.match(await rivera.page.locator('[data-testid="history-when"]').innerText(), new RegExp(`change ${firstByTeacher} of ${entries.length} by Ada`))
      await assertAccessible(rivera.page, 'history and contributions (teacher)')
      await screenshots(rivera.page, 'playground-history', '[data-testid="panel-history"]')
      await screenshots(rivera.page, 'playground-contributions', '[data-testid="panel-contributions"]')

      // Restore: a new change, which the student's page receives live.
      await rivera.page.locator('[data-testid="history-restore"]').click()
      await student.page.locator('.editor .ProseMirror', { hasText: 'Ada wrote this first.' }).filter({ hasNotText: 'Rivera' }).waitFor({ timeout: 15_000 })
      assert.is(await notesText(), '<paragraph>Ada wrote this first.</paragraph>')
      await rivera.page.locator('.toast', { hasText: 'restored' }).waitFor()
    } finally {
      await student.context.close()
      await rivera.context.close()
    }
  })

  test('the whiteboard scrubs back stroke by stroke, and who drew what is counted in elements', async () => {
    const rivera = await openPlayground(playground.browser, server.http, { user: 't1', role: 'teacher' })
    try {
      for (const count of ['1 stroke', '2 strokes', '3 strokes']) {
        await rivera.page.locator('[data-testid="draw-wave"]').click()
        await rivera.page.locator('[data-testid="board-status"]', { hasText: count }).waitFor()
      }
      await until(async () => (await server.app.peek('s1/board/demo')).getMap('elements').size === 3, { what: 'three strokes on the server' })
      await rivera.page.locator('[data-testid="history-doc"]').selectOption({ label: 'Whiteboard' })
      const entries = await history('s1/board/demo')
      assert.is(entries.length, 3, 'one change per stroke')
      await rivera.page.locator('[data-testid="history-when"]', { hasText: 'Now: change 3 of 3' }).waitFor()
      await slideTo(rivera.page, 0)
      await rivera.page.locator('[data-testid="panel-history"] [data-testid="past-content"][data-strokes="1"]').waitFor()
      await slideTo(rivera.page, 1)
      await rivera.page.locator('[data-testid="panel-history"] [data-testid="past-content"][data-strokes="2"]').waitFor()
      // Who drew what, in elements.
      await rivera.page.locator('[data-testid="contributions-doc"]').selectOption({ label: 'Whiteboard' })
      await rivera.page.locator('[data-testid="contributions"] [data-testid="contributor"][data-user="t1"]', { hasText: 'Ms. Rivera' }).filter({ hasText: '3 (100%)' }).waitFor()
      assert.match(await rivera.page.locator('[data-testid="contributions"]').innerText(), /Counted in whiteboard elements/)
      await assertAccessible(rivera.page, 'board history (teacher)')
      await screenshots(rivera.page, 'playground-board-history', '[data-testid="panel-history"]')
    } finally {
      await rivera.context.close()
    }
  })

  test.run()
}
