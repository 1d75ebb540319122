// Headless Chromium for end-to-end tests: Debian's chromium driven by playwright-core (no browser downloads).
import { existsSync, mkdirSync } from 'node:fs'
import { test } from 'uvu'
import { useServer, type ServerFixture } from './server.ts'
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

/** A playground server and one Chromium for a test file: launched before its tests, closed after them. */
export function usePlayground(): { server: ServerFixture; readonly browser: Browser } {
  const server = useServer({ PLAYGROUND: '1' })
  let browser: Browser | undefined
  test.before(async () => {
    browser = await launch()
  })
  test.after(async () => {
    await browser?.close()
  })
  return {
    server,
    get browser() {
      if (!browser) throw new Error('Chromium is not launched yet: use the browser inside a test')
      return browser
    },
  }
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

export const DESKTOP = { width: 1400, height: 900 }
export const PHONE = { width: 390, height: 844 }

/**
 * Screenshots at desktop and phone sizes: `<name>-desktop.png`, `<name>-phone.png`, of the whole
 * page, or with `target` of the window scrolled to that view (below the sticky header). The page
 * is left at its first size.
 */
export async function screenshots(page: Page, name: string, target?: string): Promise<void> {
  const before = page.viewportSize() ?? DESKTOP
  for (const [size, viewport] of [['desktop', DESKTOP], ['phone', PHONE]] as const) {
    await page.setViewportSize(viewport)
    mkdirSync(ARTIFACTS, { recursive: true })
    if (target) {
      await page.evaluate((selector) => {
        const el = document.querySelector(selector)
        const header = document.querySelector('header.top')?.getBoundingClientRect().height ?? 0
        if (el) window.scrollTo(0, el.getBoundingClientRect().top + window.scrollY - header - 12)
      }, target)
      await page.screenshot({ path: `${ARTIFACTS}/${name}-${size}.png` })
    } else {
      await page.evaluate(() => window.scrollTo(0, 0))
      await page.screenshot({ path: `${ARTIFACTS}/${name}-${size}.png`, fullPage: true })
    }
  }
  await page.setViewportSize(before)
}

export interface AxeViolation {
  id: string
  impact: string | null
  help: string
  nodes: string[]
}

/** Runs axe-core in the page (WCAG 2 A and AA rules); returns the serious and critical violations. */
export async function axeViolations(page: Page, context = 'body'): Promise<AxeViolation[]> {
  if (!(await page.evaluate(() => 'axe' in window))) await page.addScriptTag({ path: 'node_modules/axe-core/axe.min.js' })
  const found = await page.evaluate(async (selector) => {
    const axe = (window as unknown as { axe: { run(context: string, options: unknown): Promise<{ violations: Array<{ id: string; impact: string | null; help: string; nodes: Array<{ target: unknown[] }> }> }> } }).axe
    const result = await axe.run(selector, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } })
    return result.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => n.target.join(' ')) }))
  }, context)
  return found.filter((v) => v.impact === 'serious' || v.impact === 'critical')
}

/** Fails with the violations listed when axe finds serious or critical ones, at desktop and phone sizes. */
export async function assertAccessible(page: Page, what: string): Promise<void> {
  const before = page.viewportSize() ?? DESKTOP
  const problems: string[] = []
  for (const viewport of [DESKTOP, PHONE]) {
    await page.setViewportSize(viewport)
    for (const v of await axeViolations(page)) problems.push(`${viewport.width}px ${v.impact} ${v.id}: ${v.help} at ${v.nodes.slice(0, 5).join(', ')}`)
  }
  await page.setViewportSize(before)
  if (problems.length) throw new Error(`${what}: axe found ${problems.length} serious or critical violations:\n${problems.join('\n')}`)
}

/** Tabs through the page until the element matching `selector` has the focus, and checks it shows a visible outline. */
export async function tabTo(page: Page, selector: string, maxTabs = 80): Promise<void> {
  for (let i = 0; i < maxTabs; i++) {
    await page.keyboard.press('Tab')
    if (await page.evaluate((s) => document.activeElement?.matches(s) ?? false, selector)) {
      const outline = await page.evaluate(() => getComputedStyle(document.activeElement!).outlineStyle)
      if (outline === 'none') throw new Error(`${selector} has the focus but no visible outline`)
      return
    }
  }
  throw new Error(`${selector} not reached with ${maxTabs} presses of Tab`)
}
