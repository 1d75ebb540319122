// End to end in headless Chromium: a vote moves the teacher's chart, a student's tab switch reaches
// the proctor as an alert, chat shows typing and read receipts, a drill reaches the banner; and
// screenshots of the playground's main views land in test-artifacts/.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { chromiumAvailable, openPlayground, screenshot, usePlayground } from './helpers/browser.ts'
import { until } from './helpers/clients.ts'


if (chromiumAvailable()) {
  const playground = usePlayground()
  const { server } = playground

  /** Waits until the server's copy of a document satisfies `check`. */
  const eventuallyStored = (name: string, check: (doc: import('yjs').Doc) => boolean): Promise<void> =>
    until(async () => check(await server.app.peek(name)), { what: `${name} on the server` })

  test('the login form picks a user and opens the playground as them', async () => {
    const context = await playground.browser.newContext({ viewport: { width: 390, height: 844 } })
    try {
      const page = await context.newPage()
      await page.goto(`${server.http}/`)
      await page.locator('[data-testid="user"]').selectOption('pr1')
      await screenshot(page, 'phone-login')
      await page.getByRole('button', { name: 'Enter' }).click()
      await page.waitForSelector('[data-testid="connection"][data-state="online"]', { timeout: 15_000 })
      assert.match(await page.locator('.who').innerText(), /Mr\. Okafor · proctor · s1/)
      await page.locator('[data-testid="panel-monitor"]').waitFor()
    } finally {
      await context.close()
    }
  })

  test('a student votes and the teacher page’s chart changes', async () => {
    const teacher = await openPlayground(playground.browser, server.http, { user: 't1', role: 'teacher' })
    const student = await openPlayground(playground.browser, server.http, { user: 'u1', role: 'student' })
    try {
      await teacher.page.locator('[data-testid="tally-2"]').waitFor()
      const before = Number(await teacher.page.locator('[data-testid="tally-2"]').innerText())
      await student.page.locator('[data-testid="vote-2"]').click()
      await student.page.locator('.bar-row.chosen [data-testid="vote-2"]').waitFor()
      await eventuallyStored('s1/poll/demo/ballot/u1', (doc) => doc.getMap('ballot').get('choice') === 2)
      await teacher.page.waitForFunction((n) => document.querySelector('[data-testid="tally-2"]')?.textContent === String(n), before + 1, { timeout: 10_000 })
      const width = await teacher.page.locator('[data-testid="poll-chart"] .bar-row:nth-child(3) .fill').evaluate((el) => (el as HTMLElement).style.width)
      assert.is.not(width, '0%')
      await screenshot(teacher.page, 'teacher')
      await screenshot(student.page, 'student')
    } finally {
      await teacher.context.close()
      await student.context.close()
    }
  })

  test('a proctor page sees the alert raised by a student page’s tab switch', async () => {
    const proctor = await openPlayground(playground.browser, server.http, { user: 'pr1', role: 'proctor' })
    const student = await openPlayground(playground.browser, server.http, { user: 'u2', role: 'student' })
    try {
      await student.page.locator('[data-testid="answer-0-0"]').click()
      // What the browser does when the student switches to another tab.
      await student.page.evaluate(() => {
        Object.defineProperty(document, 'visibilityState', { value: 'hidden', configurable: true })
        document.dispatchEvent(new Event('visibilitychange'))
      })
      await eventuallyStored('s1/exam/demo/student/u2', (doc) => doc.getArray('events').toArray().some((e) => (e as { type?: string }).type === 'tab_switch'))
      const alert = proctor.page.locator('[data-testid="alert"][data-type="tab_switch"][data-user="u2"]')
      await alert.waitFor({ timeout: 10_000 })
      await alert.getByRole('button', { name: 'Acknowledge' }).click()
      await proctor.page.locator('[data-testid="alert"][data-user="u2"].acked').waitFor()
      await screenshot(proctor.page, 'proctor')
    } finally {
      await proctor.context.close()
      await student.context.close()
    }
  })

  test('chat shows typing and read receipts across pages', async () => {
    const ada = await openPlayground(playground.browser, server.http, { user: 'u1', role: 'student' })
    const ben = await openPlayground(playground.browser, server.http, { user: 'u2', role: 'student' })
    try {
      await ada.page.locator('[data-testid="chat-input"]').fill('Who has the homework?')
      await ben.page.locator('[data-testid="typing"]', { hasText: 'Ada is typing' }).waitFor()
      await ada.page.locator('[data-testid="chat-input"]').press('Enter')
      await ben.page.locator('[data-testid="messages"] li', { hasText: 'Who has the homework?' }).waitFor()
      // Ben's page marks the message read; Ada sees the receipt.
      await ada.page.locator('[data-testid="receipt"]', { hasText: 'Read by Ben' }).waitFor({ timeout: 10_000 })
    } finally {
      await ada.context.close()
      await ben.context.close()
    }
  })

  test('strokes drawn on one page appear on the other; a locked board refuses the student locally', async () => {
    const teacher = await openPlayground(playground.browser, server.http, { user: 't1', role: 'teacher' })
    const student = await openPlayground(playground.browser, server.http, { user: 'u2', role: 'student' })
    try {
      const draw = async (page: typeof student.page, dy: number) => {
        const box = (await page.locator('[data-testid="board"]').boundingBox())!
        await page.mouse.move(box.x + 40, box.y + 40 + dy)
        await page.mouse.down()
        for (let i = 1; i <= 10; i++) await page.mouse.move(box.x + 40 + i * 20, box.y + 40 + dy + (i % 2) * 15)
        await page.mouse.up()
      }
      await draw(student.page, 0)
      await teacher.page.locator('[data-testid="board-status"]', { hasText: '1 stroke' }).waitFor()
      await draw(teacher.page, 60)
      await student.page.locator('[data-testid="board-status"]', { hasText: '2 strokes' }).waitFor()

      await teacher.page.locator('[data-testid="lock-board"]').click()
      await student.page.locator('[data-testid="board-status"]', { hasText: 'locked' }).waitFor()
      await draw(student.page, 120)
      await student.page.locator('.toast', { hasText: 'not allowed' }).waitFor()
      assert.match(await teacher.page.locator('[data-testid="board-status"]').innerText(), /^2 strokes/)
      await teacher.page.locator('[data-testid="lock-board"]').click()
      await screenshot(teacher.page, 'teacher-board')
    } finally {
      await teacher.context.close()
      await student.context.close()
    }
  })

  test('an admin’s drill reaches the student banner, which the student acknowledges', async () => {
    const admin = await openPlayground(playground.browser, server.http, { user: 'a1', role: 'admin' })
    const student = await openPlayground(playground.browser, server.http, { user: 'u1', role: 'student' }, { width: 390, height: 844 })
    try {
      await admin.page.locator('[data-testid="start-drill"]').click()
      const banner = student.page.locator('[data-testid="emergency"]', { hasText: 'Fire drill' })
      await banner.waitFor({ timeout: 10_000 })
      await student.page.locator('[data-testid="unread"]').waitFor()
      await screenshot(student.page, 'phone-student-emergency')
      await student.page.locator('[data-testid="ack-emergency"]').click()
      await banner.waitFor({ state: 'hidden' })
      await screenshot(admin.page, 'admin')
    } finally {
      await admin.context.close()
      await student.context.close()
    }
  })

  test('a driver’s simulated trip moves the bus on a parent’s SVG map', async () => {
    const driver = await openPlayground(playground.browser, server.http, { user: 'd1', role: 'driver' })
    const parent = await openPlayground(playground.browser, server.http, { user: 'p1', role: 'parent' }, { width: 390, height: 844 })
    try {
      await driver.page.locator('[data-testid="drive"]').click()
      const marker = parent.page.locator('[data-testid="bus-marker"]')
      await marker.waitFor({ timeout: 10_000 })
      const first = await marker.getAttribute('cx')
      await parent.page.waitForFunction((cx) => document.querySelector('[data-testid="bus-marker"]')?.getAttribute('cx') !== cx, first, { timeout: 10_000 })
      await driver.page.locator('[data-testid="drive"]').click()
      await screenshot(parent.page, 'phone-parent-bus')
      await screenshot(driver.page, 'driver')
    } finally {
      await driver.context.close()
      await parent.context.close()
    }
  })

  test.run()
}
