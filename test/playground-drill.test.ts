// The admin's drill view in headless Chromium: the admin starts a fire drill, the view shows
// whom it targets, who acknowledged and who is missing by name; a student acknowledging moves
// them across live; "All clear" (reached by keyboard) ends the drill, recorded in the emergency
// document, and the student's banner says so. The view passes an axe-core scan and is
// screenshotted at 1400x900 and 390x844.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { assertAccessible, chromiumAvailable, openPlayground, PHONE, screenshots, tabTo, usePlayground } from './helpers/browser.ts'
import { until } from './helpers/clients.ts'
import { DEMO_USERS } from '../server/playground/cast.ts'


if (chromiumAvailable()) {
  const playground = usePlayground()
  const { server } = playground

  test('the login form is labelled and passes the scan on a phone and a desktop', async () => {
    const context = await playground.browser.newContext({ viewport: PHONE })
    try {
      const page = await context.newPage()
      await page.goto(`${server.http}/`)
      await page.locator('[data-testid="user"]').waitFor()
      await assertAccessible(page, 'login form')
      await tabTo(page, '[data-testid="user"]')
    } finally {
      await context.close()
    }
  })

  test('an admin follows a drill by name and gives the all clear; the student’s banner says it is over', async () => {
    const admin = await openPlayground(playground.browser, server.http, { user: 'a1', role: 'admin' })
    const ada = await openPlayground(playground.browser, server.http, { user: 'u1', role: 'student' }, PHONE)
    try {
      const drill = admin.page.locator('[data-testid="drill"]')
      await drill.filter({ hasText: 'No drill yet' }).waitFor()
      await admin.page.locator('[data-testid="start-drill"]').click()
      // Targeted: every demo user but the admin (students, teacher, proctor, parent, driver).
      const targeted = DEMO_USERS.filter((u) => u.role !== 'admin')
      await drill.locator('[data-testid="drill-targeted"]', { hasText: String(targeted.length) }).waitFor({ timeout: 15_000 })
      const missing = drill.locator('[data-testid="missing"]')
      for (const user of targeted) await missing.locator('li', { hasText: `${user.name} · ${user.role}` }).waitFor()
      assert.not.match(await missing.innerText(), /\bu1\b|\bt1\b/, 'names, not ids')

      // Ada acknowledges on her phone: she moves from missing to acknowledged.
      await ada.page.locator('[data-testid="ack-emergency"]').click()
      await drill.locator('[data-testid="drill-acked"]', { hasText: '1' }).waitFor({ timeout: 15_000 })
      await drill.locator('[data-testid="acknowledged"] li', { hasText: /^Ada ·/ }).waitFor()
      await until(async () => (await missing.locator('li', { hasText: /^Ada ·/ }).count()) === 0, { what: 'Ada no longer missing' })
      assert.is(await missing.locator('li').count(), targeted.length - 1)
      await assertAccessible(admin.page, 'drill view (admin)')
      await screenshots(admin.page, 'playground-drill', '[data-testid="panel-drill"]')

      // All clear, by keyboard.
      await tabTo(admin.page, '[data-testid="all-clear"]')
      await admin.page.keyboard.press('Enter')
      await drill.locator('[data-testid="cleared"]', { hasText: 'All clear given by Principal Lee' }).waitFor()
      const name = (await admin.page.evaluate(() => localStorage.getItem('homeroom.playground.drill:s1')))!
      await until(async () => (await server.app.peek(name)).getMap('cleared').get('by') === 'a1', { what: 'the all clear recorded in the emergency document' })
      assert.is(await drill.locator('[data-testid="all-clear"]').count(), 0, 'given once')
      await ada.page.locator('[data-testid="all-clear-notice"]', { hasText: 'All clear: Fire drill is over' }).waitFor({ timeout: 15_000 })
      await assertAccessible(ada.page, 'all clear banner (student)')
      // Inbox items are buttons: the drill's item is opened, and so read, from the keyboard.
      await ada.page.locator('[data-testid="unread"]').waitFor()
      await tabTo(ada.page, '[data-testid="inbox"] li.unread button.item')
      await ada.page.keyboard.press('Enter')
      await ada.page.locator('[data-testid="unread"]').waitFor({ state: 'hidden' })
      await screenshots(admin.page, 'playground-drill-cleared', '[data-testid="panel-drill"]')
      await screenshots(ada.page, 'playground-student-all-clear')
    } finally {
      await admin.context.close()
      await ada.context.close()
    }
  })

  test.run()
}
