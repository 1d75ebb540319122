// Headless Chromium for end-to-end tests: Debian's chromium driven by playwright-core (no browser downloads).
import { existsSync, mkdirSync } from 'node:fs'
import { unavailable } from './services.ts'
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core'

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
export const ARTIFACTS = 'test-artifacts'

/** True when Chromium is installed; otherwise fails under CI, or prints a loud SKIPPED line. */
export const chromiumAvailable = (): boolean =>
  existsSync(CHROMIUM) || unavailable('Chromium', `no browser at ${CHROMIUM} (apt-get install -y chromium)`)

export async function launch(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  })
}

export interface PlaygroundUser {
  school?: string
  user: string
  role: string
}

/** A new context (own storage, like another device) with the playground open as this user. */
export async function openPlayground(browser: Browser, http: string, who: PlaygroundUser, viewport = { width: 1280, height: 900 }): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ viewport })
  const page = await context.newPage()
  page.on('pageerror', (error) => console.error(`[${who.user}] page error: ${error.message}`))
  await page.goto(playgroundUrl(http, who))
  await page.waitForSelector('[data-testid="connection"][data-state="online"]', { timeout: 15_000 })
  return { context, page }
}

export const playgroundUrl = (http: string, { school = 's1', user, role }: PlaygroundUser): string =>
  `${http}/?${new URLSearchParams({ school, user, role })}`

export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(ARTIFACTS, { recursive: true })
  await page.screenshot({ path: `${ARTIFACTS}/${name}.png`, fullPage: true })
}
