// In Chromium, through the installed package and the app's own Tiptap 3 and Yjs: a teacher and a
// student edit one `s/doc/<id>` with `@tiptap/extension-collaboration` (`field: 'body'`) and
// carets; text and formatting arrive both ways and no page warns of a second Yjs. A stock set-up
// bound to Tiptap's default field is refused with the roots the document has, and the page keeps
// (and can export) what was typed, across a reload.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import type { Browser, BrowserContext, Page } from 'playwright-core'
import { useServer } from './helpers/server.ts'
import { chromiumAvailable, launch, screenshot } from './helpers/browser.ts'
import { bundlePages, servePages, type AppServer } from './helpers/client-app.ts'
import { mintToken, student, teacher } from './helpers/tokens.ts'
import type { Claims } from '../server/identity.ts'

const EDITOR_PAGE = `
import { Editor } from '@tiptap/core'
import StarterKit from '@tiptap/starter-kit'
import Collaboration from '@tiptap/extension-collaboration'
import CollaborationCaret from '@tiptap/extension-collaboration-caret'
import { Session, DocClient } from '@homeroom/client'
import * as Y from 'yjs'
import { IndexeddbPersistence } from 'y-indexeddb'

const params = new URLSearchParams(location.search)
const session = await Session.start({ url: params.get('ws'), token: () => window.homeroomToken() })
const doc = new DocClient(session, params.get('doc'))
await doc.handle.ready
const status = document.createElement('p')
status.dataset.testid = 'status'
document.body.append(status)
doc.handle.on('refused', ({ reason, pending }) => (status.textContent = reason + ' — kept here: ' + pending.join(', ')))
const editor = new Editor({
  element: document.getElementById('root'),
  extensions: [
    // Collaboration brings its own undo history.
    StarterKit.configure({ undoRedo: false }),
    Collaboration.configure({ document: doc.handle.doc, field: params.get('field') ?? 'body' }),
    CollaborationCaret.configure({ provider: doc.handle.provider, user: { name: session.user.name, color: '#ffa94d' } }),
  ],
})
window.app = {
  html: () => editor.getHTML(),
  refusal: () => doc.handle.refusal ?? null,
  pending: () => doc.handle.pendingPaths(),
  exportedBytes: () => doc.handle.exportPending().length,
  // What IndexedDB holds of the copy, read through a connection of its own: it sees every write made before.
  stored: async (field) => {
    const copy = new Y.Doc()
    const reader = new IndexeddbPersistence(session.storageKey(params.get('doc')), copy)
    await reader.whenSynced
    const xml = copy.getXmlFragment(field).toString()
    await reader.destroy()
    return xml
  },
}
`

const DOC = 's1/doc/essay'

if (chromiumAvailable()) {
  const server = useServer()
  let browser: Browser
  let pages: AppServer
  test.before(async () => {
    pages = await servePages(await bundlePages({ editor: EDITOR_PAGE }))
    browser = await launch()
  })
  test.after(async () => {
    await browser?.close()
    await pages?.close()
  })

  interface EditorPage {
    context: BrowserContext
    page: Page
    console: string[]
  }

  async function openEditor(who: Claims, params: Record<string, string> = {}): Promise<EditorPage> {
    const context = await browser.newContext()
    await context.exposeFunction('homeroomToken', () => mintToken(who))
    const page = await context.newPage()
    const console: string[] = []
    page.on('console', (message) => console.push(message.text()))
    page.on('pageerror', (error) => console.push(`page error: ${error.message}`))
    await page.goto(`${pages.origin}/editor.html?${new URLSearchParams({ ws: server.url, doc: DOC, ...params })}`)
    await page.locator('.ProseMirror').waitFor()
    return { context, page, console }
  }

  /** The editor's text without the other users' caret labels. */
  const text = (page: Page) =>
    page.evaluate(() => {
      const copy = document.querySelector('.ProseMirror')!.cloneNode(true) as HTMLElement
      for (const caret of copy.querySelectorAll('.collaboration-carets__caret')) caret.remove()
      return copy.textContent ?? ''
    })

  async function typeAtEnd(page: Page, keys: string): Promise<void> {
    await page.locator('.ProseMirror').click()
    await page.keyboard.press('Control+End')
    await page.keyboard.type(keys)
  }

  test('a teacher and a student edit one document through Tiptap: text, formatting and carets both ways, one Yjs', async () => {
    const ada = await openEditor({ ...student('u1'), name: 'Ada' })
    const rivera = await openEditor({ ...teacher('t1'), name: 'Ms. Rivera' })
    try {
      await typeAtEnd(ada.page, 'Volcanoes form where ')
      await ada.page.keyboard.press('Control+b')
      await ada.page.keyboard.type('plates meet')
      await rivera.page.waitForFunction(() => document.querySelector('.ProseMirror strong')?.textContent === 'plates meet')
      await rivera.page.locator('.collaboration-carets__label', { hasText: 'Ada' }).waitFor()

      await rivera.page.locator('.ProseMirror').click()
      await rivera.page.keyboard.press('Control+End')
      await rivera.page.keyboard.press('Enter')
      await rivera.page.keyboard.press('Control+i')
      await rivera.page.keyboard.type('Good start')
      await ada.page.waitForFunction(() => document.querySelector('.ProseMirror em')?.textContent === 'Good start')
      await ada.page.locator('.collaboration-carets__label', { hasText: 'Ms. Rivera' }).waitFor()

      assert.is(await text(ada.page), await text(rivera.page))
      const stored = (await server.app.peek(DOC)).getXmlFragment('body').toString()
      assert.match(stored, /<bold>plates meet<\/bold>/)
      assert.match(stored, /<italic>Good start<\/italic>/)
      await screenshot(rivera.page, 'tiptap-two-pages')
      for (const { console } of [ada, rivera]) {
        assert.not.ok(console.some((line) => /Yjs was already imported|Unexpected content type/.test(line)), console.join('\n'))
      }
    } finally {
      await ada.context.close()
      await rivera.context.close()
    }
  })

  test('Tiptap on its default field is refused with the roots the document has, and the page keeps what was typed', async () => {
    const stock = await openEditor({ ...student('u2'), name: 'Ben' }, { field: 'default' })
    try {
      await typeAtEnd(stock.page, 'typed into the wrong field')
      const status = stock.page.getByTestId('status')
      await status.getByText('forbidden-write: default (doc/:id has body, comments, meta)').waitFor()
      assert.match((await status.textContent()) ?? '', /kept here: default$/)
      assert.ok((await stock.page.evaluate(() => (window as any).app.exportedBytes())) > 20, 'exportPending() holds the typing')
      assert.not.ok((await server.app.peek(DOC)).share.has('default') && (await server.app.peek(DOC)).getXmlFragment('default').length > 0, 'nothing reached the server')

      // IndexedDB writes still under way when a page unloads are lost: reload once the typing is stored.
      await stock.page.waitForFunction(async () => (await (window as any).app.stored('default')).includes('typed into the wrong field'))
      await stock.page.reload()
      await stock.page.waitForFunction(() => (window as any).app?.html().includes('typed into the wrong field'))
      await stock.page.waitForFunction(() => (window as any).app.refusal()?.reason.startsWith('forbidden-write: default'))
      assert.equal(await stock.page.evaluate(() => (window as any).app.pending()), ['default'], 'the copy still holds it after the reload')
      await screenshot(stock.page, 'tiptap-refused')
    } finally {
      await stock.context.close()
    }
  })

  test.run()
}
