// The playground's "try to break the rules" panel, its offline switch and its names: in headless
// Chromium, a student's forbidden writes (a poll tally, a chat message signed as someone else, an
// answer to a closed exam) go through the real provider and come back as the server's refusal
// in plain words, and nothing of them reaches the server; edits made with the connection
// switched off wait, then merge with another user's; chat and the exam monitor show names.
// Each view passes an axe-core scan and is screenshotted at 1400x900 and 390x844.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { assertAccessible, chromiumAvailable, openPlayground, screenshots, tabTo, usePlayground } from './helpers/browser.ts'
import { until } from './helpers/clients.ts'


if (chromiumAvailable()) {
  const playground = usePlayground()
  const { server } = playground

  test('a student’s forbidden writes are refused by the server, in plain words, and nothing of them is stored', async () => {
    const ada = await openPlayground(playground.browser, server.http, { user: 'u1', role: 'student' })
    try {
      const page = ada.page
      const result = page.locator('[data-testid="rules-result"]')
      const tallyBefore = (await server.app.peek('s1/poll/demo')).getMap('tallies').toJSON()

      // By keyboard: the first trick is reached with Tab and shows its focus.
      await tabTo(page, '[data-testid="break-tally"]')
      await page.keyboard.press('Enter')
      await result.locator('[data-testid="refusal"]').waitFor()
      assert.match(await result.innerText(), /You are not allowed to change this part of the document\. The server says: you may not write tallies\/0\./)
      assert.is(await result.locator('[data-testid="refusal-reason"]').innerText(), 'forbidden-write: tallies/0')
      assert.match(await result.innerText(), /close code 4403/)
      assert.equal((await server.app.peek('s1/poll/demo')).getMap('tallies').toJSON(), tallyBefore, 'the tally is as the server counted it')
      await page.locator('[data-testid="tally-0"]', { hasText: /^(?!999$)/ }).waitFor()

      await page.locator('[data-testid="break-forge"]').click()
      await result.locator('[data-testid="refusal-reason"]', { hasText: 'author must be the sender' }).waitFor()
      assert.match(await result.innerText(), /The server says: author must be the sender/)
      const messages = (await server.app.peek('s1/chat/general')).getArray('messages').toArray() as Array<{ text: string }>
      assert.not.ok(messages.some((m) => m.text === 'I did not write this'), 'the forged message is not on the server')
      assert.is(await page.locator('[data-testid="messages"] li', { hasText: 'I did not write this' }).count(), 0, 'nor on the page')

      await page.locator('[data-testid="break-closed-exam"]').click()
      await result.locator('[data-testid="refusal-reason"]', { hasText: 'frozen' }).waitFor()
      assert.match(await result.innerText(), /This is closed for changes right now\. The server says: exam closed/)
      assert.match(await result.innerText(), /close code 4409/)
      assert.equal((await server.app.peek('s1/exam/closed/student/u1')).getMap('answers').toJSON(), {})
      // The panel shows the refusal; no toast repeats it.
      assert.is(await page.locator('.toast').count(), 0)

      await assertAccessible(page, 'break the rules (student)')
      await screenshots(page, 'playground-rules', '[data-testid="panel-rules"]')
    } finally {
      await ada.context.close()
    }
  })

  test('offline edits wait, then merge with another user’s; chat shows names, not ids', async () => {
    const ada = await openPlayground(playground.browser, server.http, { user: 'u1', role: 'student' })
    const ben = await openPlayground(playground.browser, server.http, { user: 'u2', role: 'student' })
    try {
      const status = ada.page.locator('[data-testid="offline-status"]')
      await ada.page.locator('[data-testid="offline-switch"]').click()
      await ada.page.locator('[data-testid="connection"][data-state="offline"]').waitFor()
      assert.is(await ada.page.locator('[data-testid="offline-switch"]').getAttribute('aria-checked'), 'true')

      // Ada writes offline; Ben writes online meanwhile.
      await ada.page.locator('[data-testid="chat-input"]').fill('Written on the train')
      await ada.page.locator('[data-testid="chat-input"]').press('Enter')
      await ada.page.locator('.editor .ProseMirror').click()
      await ada.page.keyboard.type('Offline notes by Ada. ')
      await status.filter({ hasText: /Offline: 2 documents with changes waiting/ }).waitFor()
      assert.match(await ada.page.locator('[data-testid="waiting"]').innerText(), /Chat · messages/)
      assert.match(await ada.page.locator('[data-testid="waiting"]').innerText(), /Class notes · body/)
      await ben.page.locator('[data-testid="chat-input"]').fill('Ben, online')
      await ben.page.locator('[data-testid="chat-input"]').press('Enter')
      await until(async () => (await server.app.peek('s1/chat/general')).getArray('messages').toArray().some((m) => (m as { text: string }).text === 'Ben, online'), { what: 'Ben’s message on the server' })
      const onServer = (await server.app.peek('s1/chat/general')).getArray('messages').toArray() as Array<{ text: string }>
      assert.not.ok(onServer.some((m) => m.text === 'Written on the train'), 'the offline message waits in the browser')
      await assertAccessible(ada.page, 'offline panel, offline')
      await screenshots(ada.page, 'playground-offline', '[data-testid="panel-offline"]')

      await ada.page.locator('[data-testid="offline-switch"]').click()
      await status.filter({ hasText: /Merged: 2 documents with changes reached the server/ }).waitFor({ timeout: 15_000 })
      await ben.page.locator('[data-testid="messages"] li', { hasText: 'Written on the train' }).waitFor()
      await ada.page.locator('[data-testid="messages"] li', { hasText: 'Ben, online' }).waitFor()
      await ben.page.locator('.editor .ProseMirror', { hasText: 'Offline notes by Ada.' }).waitFor()
      // Names, not ids: Ben's page shows Ada's message as hers, by name.
      await ben.page.locator('[data-testid="messages"] li .author[data-user="u1"]', { hasText: 'Ada' }).first().waitFor()
      assert.is(await ben.page.locator('[data-testid="messages"] li .author', { hasText: /^u\d$/ }).count(), 0)
      // Receipts name the reader. (A message of Ada's that is last in the merged list: which of two
      // concurrent messages comes first is Yjs's choice, and Ben marks read only the last one.)
      await ada.page.locator('[data-testid="chat-input"]').fill('Thanks, Ben')
      await ada.page.locator('[data-testid="chat-input"]').press('Enter')
      await ada.page.locator('[data-testid="receipt"]', { hasText: 'Read by Ben' }).waitFor({ timeout: 15_000 })
      await screenshots(ada.page, 'playground-merged', '[data-testid="panel-offline"]')
    } finally {
      await ada.context.close()
      await ben.context.close()
    }
  })

  test('the exam monitor names students and says what they are doing; inbox items are buttons', async () => {
    const proctor = await openPlayground(playground.browser, server.http, { user: 'pr1', role: 'proctor' })
    const ben = await openPlayground(playground.browser, server.http, { user: 'u2', role: 'student' })
    try {
      await ben.page.locator('[data-testid="answer-0-0"]').click()
      const row = proctor.page.locator('[data-testid="panel-monitor"] tr[data-user="u2"]')
      await row.waitFor({ timeout: 15_000 })
      await row.filter({ hasText: 'Ben' }).filter({ hasText: 'Answering' }).waitFor()
      assert.not.match(await proctor.page.locator('[data-testid="panel-monitor"]').innerText(), /in_progress|\bu2\b/)
      await assertAccessible(proctor.page, 'proctor page')
      await screenshots(proctor.page, 'playground-monitor', '[data-testid="panel-monitor"]')
    } finally {
      await proctor.context.close()
      await ben.context.close()
    }
  })

  test.run()
}
