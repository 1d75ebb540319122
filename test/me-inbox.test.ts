// A user's own inbox over HTTP, with the user's own token: listing newest first with the unread
// count, paging through every item once, marking one or all read (live clients see the marks,
// which are the same `read` entries the document's owner writes), and the refusals.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { useServer } from './helpers/server.ts'
import { closeClients, open, until } from './helpers/clients.ts'
import { claims, mintToken, student } from './helpers/tokens.ts'
import { api, assertError } from './helpers/api.ts'
import { unreadCount } from '../docs-model/surfaces/inbox/surface.ts'

const SERVICE_TOKEN = 'service-token-0123456789abcdef'
const server = useServer({ SERVICE_TOKEN })
const ITEMS = 7
let token: string
test.before(async () => {
  token = await mintToken(student('u1'))
  for (let i = 0; i < ITEMS; i++) {
    const sent = await api(server, 'POST', '/api/v1/events', { token: SERVICE_TOKEN, json: [{ id: `m-${i}`, school: 's1', type: 'note', targets: { users: ['u1'] }, title: `Note ${i}` }] })
    assert.is(sent.status, 202)
  }
})
test.after.each(closeClients)

const inbox = (query = '', as = token) => api(server, 'GET', `/api/v1/me/inbox${query}`, { token: as })

test('the inbox lists newest first with the unread count; limit and next page through every item once', async () => {
  const all = await inbox()
  assert.is(all.status, 200)
  assert.is(all.json.school, 's1')
  assert.is(all.json.unread, ITEMS)
  assert.equal(all.json.items.map((i: { id: string }) => i.id), Array.from({ length: ITEMS }, (_, i) => `event:m-${ITEMS - 1 - i}`))
  assert.is(all.json.next, undefined)
  const seen: string[] = []
  let next: string | undefined
  do {
    const page = await inbox(`?limit=3${next ? `&before=${encodeURIComponent(next)}` : ''}`)
    seen.push(...page.json.items.map((i: { id: string }) => i.id))
    next = page.json.next
  } while (next)
  assert.equal(seen, all.json.items.map((i: { id: string }) => i.id))
})

test('marking one item read, then all: the owner’s live client sees the same read marks', async () => {
  const live = await open(server, 's1/inbox/u1', student('u1'))
  const one = await api(server, 'PUT', `/api/v1/me/inbox/${encodeURIComponent('event:m-3')}/read`, { token })
  assert.is(one.status, 200)
  assert.is(one.json.id, 'event:m-3')
  await until(() => unreadCount(live.doc) === ITEMS - 1, { what: 'the read mark live' })
  const again = await api(server, 'PUT', '/api/v1/me/inbox/event:m-3/read', { token })
  assert.is(again.json.readAt, one.json.readAt, 'marking again keeps the first time')
  const unread = await inbox('?unread=true')
  assert.is(unread.json.unread, ITEMS - 1)
  assert.not.ok(unread.json.items.some((i: { id: string }) => i.id === 'event:m-3'))

  const all = await api(server, 'POST', '/api/v1/me/inbox/read-all', { token })
  assert.equal(all.json, { marked: ITEMS - 1 })
  await until(() => unreadCount(live.doc) === 0, { what: 'every item read live' })
  assert.equal((await inbox('?unread=1')).json.items, [])
})

test('refusals: no token, an unknown item, another school, a token of several schools without school', async () => {
  assertError(await api(server, 'GET', '/api/v1/me/inbox'), 401)
  assertError(await api(server, 'PUT', '/api/v1/me/inbox/nope/read', { token }), 404, 'not-found')
  assertError(await inbox('?school=s2'), 403)
  const director = await mintToken(claims.director('d1', { schools: ['s1', 's2'] }))
  const ambiguous = await inbox('', director)
  assertError(ambiguous, 400)
  assert.match(ambiguous.json.error.message, /school: required/)
  assert.is((await inbox('?school=s2', director)).json.unread, 0)
  assertError(await inbox('?limit=0'), 400)
  assertError(await inbox('?before=yesterday'), 400)
  // Another user's items stay theirs: u2 sees none of u1's.
  assert.equal((await inbox('', await mintToken(student('u2')))).json.items, [])
})

test.run()
