// Chat history pages: a conversation keeps its newest KEPT_MESSAGES (500) messages in the document
// and moves older ones to the message archive; GET /api/v1/docs/<name>/messages?before=&limit=
// reads the whole history page by page, for those who may open the conversation only.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { useServer } from './helpers/server.ts'
import { closeClients, open, until } from './helpers/clients.ts'
import { claims, mintToken, student, teacher } from './helpers/tokens.ts'
import { api, assertError } from './helpers/api.ts'
import { docJson } from './helpers/safety.ts'
import { KEPT_MESSAGES } from '../docs-model/surfaces/chat/state.ts'
import { DAY_MS, runRetention } from '../server/retention.ts'
import { serverWrite } from '../server/writes.ts'

const server = useServer()
test.after.each(closeClients)
const ROOM = 's1/dm/t1~u1'
const TOTAL = KEPT_MESSAGES.dm + 120

test('the document keeps the newest messages; the whole history reads back page by page, oldest first within a page', async () => {
  const u1 = await open(server, ROOM, student('u1'))
  const now = Date.now()
  for (let start = 0; start < TOTAL; start += 100) {
    u1.doc.getArray('messages').push(Array.from({ length: Math.min(100, TOTAL - start) }, (_, i) => ({ id: `m${start + i}`, author: 'u1', text: `message ${start + i}`, at: now + start + i })))
    await u1.acknowledged()
  }
  await until(async () => (await docJson(server, ROOM)).messages.length === KEPT_MESSAGES.dm, { what: 'the oldest messages moved to the archive' })
  assert.is((await docJson(server, ROOM)).messages[0].id, `m${TOTAL - KEPT_MESSAGES.dm}`)
  const fresh = await open(server, ROOM, teacher('t1'))
  assert.is(fresh.doc.getArray('messages').length, KEPT_MESSAGES.dm, 'opening sends the kept messages only')

  const token = await mintToken(teacher('t1'))
  const seen: string[] = []
  let before: string | undefined
  let pages = 0
  do {
    const page = await api(server, 'GET', `/api/v1/docs/${ROOM}/messages?limit=200${before ? `&before=${before}` : ''}`, { token })
    assert.is(page.status, 200, JSON.stringify(page.json))
    seen.unshift(...page.json.messages.map((m: { id: string }) => m.id))
    before = page.json.before
    pages++
  } while (before)
  assert.is(pages, Math.ceil(TOTAL / 200))
  assert.equal(seen, Array.from({ length: TOTAL }, (_, i) => `m${i}`), 'every message once, in order')
})

test('only those who may open the conversation read its history', async () => {
  for (const who of [student('u2'), teacher('t2'), claims.parent('p1', { children: ['u1'] })]) {
    assertError(await api(server, 'GET', `/api/v1/docs/${ROOM}/messages`, { token: await mintToken(who) }), 403, 'forbidden')
  }
  assert.is((await api(server, 'GET', `/api/v1/docs/${ROOM}/messages?limit=1`, { token: await mintToken(claims.admin('a1')) })).status, 200, 'admins read every room of their school')
  assertError(await api(server, 'GET', `/api/v1/docs/${ROOM}/messages?before=nope`, { token: await mintToken(student('u1')) }), 404, 'not-found')
  assertError(await api(server, 'GET', `/api/v1/docs/${ROOM}/messages?limit=0`, { token: await mintToken(student('u1')) }), 400)
  assertError(await api(server, 'GET', `/api/v1/docs/${ROOM}`, { token: await mintToken(student('u1')) }), 403)
})

test('retention removes archived messages older than CHAT_RETENTION_DAYS too', async () => {
  const report = await runRetention({
    store: server.app.store,
    chatDays: 1,
    busTrailDays: 30,
    inboxDays: 90,
    now: Date.now() + 2 * DAY_MS,
    apply: (name, change) => serverWrite(server.app.hocuspocus, name, change),
  })
  assert.is(report.archivedMessagesRemoved, TOTAL - KEPT_MESSAGES.dm)
  const page = await api(server, 'GET', `/api/v1/docs/${ROOM}/messages`, { token: await mintToken(student('u1')) })
  assert.equal({ messages: page.json.messages.length, before: page.json.before }, { messages: 0, before: undefined })
})

test.run()
