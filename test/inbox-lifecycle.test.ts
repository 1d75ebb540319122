// The inbox's lifecycle: the owner dismisses items (the `dismissed` map: gone from the list,
// the badge and GET /api/v1/me/inbox; nobody else may dismiss), items expire after
// INBOX_RETENTION_DAYS except urgent ones and the retention job removes them, a chat or dm
// message tells the members not connected to it with one item per conversation and quiet period,
// and a new poll for a class tells that class's students. Times follow a ManualClock.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { useServer } from './helpers/server.ts'
import { closeClients, connect, DEADLINE_MS, open, until, within } from './helpers/clients.ts'
import { claims, mintToken, student, teacher } from './helpers/tokens.ts'
import { api } from './helpers/api.ts'
import { docJson, putRoster } from './helpers/safety.ts'
import { ManualClock } from './helpers/clock.ts'
import { deliver } from '../server/inbox.ts'
import { serverWrite } from '../server/writes.ts'
import { DAY_MS, runRetention } from '../server/retention.ts'
import { dismissItem, markItemRead, unreadCount } from '../docs-model/surfaces/inbox/surface.ts'
import { inboxItems } from '../docs-model/surfaces/inbox/state.ts'
import { MESSAGE_NOTICE_QUIET_MS } from '../docs-model/surfaces/chat/state.ts'
import { sendMessage } from '../docs-model/surfaces/chat/surface.ts'

const clock = new ManualClock()
const server = useServer({}, { clock })
test.before(() =>
  putRoster(server, 's1', [
    { id: 'u1', name: 'Ana', role: 'student', classes: ['7a'] },
    { id: 'u2', name: 'Ben', role: 'student', classes: ['7a'] },
    { id: 'u3', name: 'Cat', role: 'student', classes: ['7b'] },
    { id: 'p1', name: 'Pat', role: 'parent', children: ['u1'] },
    { id: 't1', name: 'Tess', role: 'teacher', classes: ['7a'] },
  ]),
)
test.after.each(closeClients)

const item = (title: string, at: number, priority: 'normal' | 'urgent' = 'normal') => ({ type: 'note', title, body: '', priority, at })
const itemIds = async (user: string) => Object.keys((await docJson(server, `s1/inbox/${user}`)).items).sort()

test('the owner dismisses an item: it leaves the list, the badge and the HTTP listing; nobody else may dismiss', async () => {
  await deliver(server.app, 's1', ['u1'], 'd1', item('First', clock.now()))
  await deliver(server.app, 's1', ['u1'], 'd2', item('Second', clock.now()))
  const inbox = await open(server, 's1/inbox/u1', student('u1'))
  assert.is(unreadCount(inbox.doc), 2)
  dismissItem(inbox.doc, 'd1', clock.now())
  await inbox.acknowledged()
  assert.equal(inboxItems(inbox.doc).map((i) => i.id), ['d2'])
  assert.is(unreadCount(inbox.doc), 1)
  const listed = await api(server, 'GET', '/api/v1/me/inbox?school=s1', { token: await mintToken(student('u1')) })
  assert.equal(listed.json.items.map((i: { id: string }) => i.id), ['d2'])
  assert.is(listed.json.unread, 1)

  // The parent of u1 cannot open it at all; nobody writes another's dismissals.
  const other = connect(server.url, 's1/inbox/u1', await mintToken(claims.parent('p1', { children: ['u1'] })))
  assert.match(await within(other.refused, DEADLINE_MS, 'refusal'), /^forbidden/)
  const stranger = await open(server, 's1/inbox/u2', student('u2'))
  stranger.doc.getMap('dismissed').set('x', clock.now())
  await stranger.acknowledged()
  assert.equal((await docJson(server, 's1/inbox/u2')).dismissed, { x: clock.now() }, 'one\'s own inbox only')
})

test('items expire after INBOX_RETENTION_DAYS except urgent ones; the retention job removes them with their marks', async () => {
  const now = clock.now()
  await deliver(server.app, 's1', ['u3'], 'old', item('Last term', now - 100 * DAY_MS))
  await deliver(server.app, 's1', ['u3'], 'old-urgent', item('Lockdown', now - 100 * DAY_MS, 'urgent'))
  await deliver(server.app, 's1', ['u3'], 'recent', item('This week', now - 3 * DAY_MS))
  const inbox = await open(server, 's1/inbox/u3', student('u3'))
  markItemRead(inbox.doc, 'old', now)
  await inbox.acknowledged()
  const report = await runRetention({
    store: server.app.store,
    chatDays: 365,
    busTrailDays: 30,
    inboxDays: server.app.config.retention.inboxDays,
    now,
    apply: (name, change) => serverWrite(server.app.hocuspocus, name, change),
  })
  assert.is(server.app.config.retention.inboxDays, 90, 'the default')
  assert.is(report.inboxItemsRemoved, 1)
  await until(() => !inbox.doc.getMap('items').has('old'), { what: 'the live client to lose the expired item' })
  assert.equal([...inbox.doc.getMap('items').keys()].sort(), ['old-urgent', 'recent'])
  assert.not.ok(inbox.doc.getMap('read').has('old'), 'its read mark went with it')
})

test('a message notifies the members not connected to the conversation, once per quiet period', async () => {
  const room = 's1/dm/p1~t1'
  const teacherSide = await open(server, room, teacher('t1'))
  for (const text of ['Hello', 'About the trip', 'Please sign the form']) sendMessage(teacherSide.doc, 't1', text)
  // sendMessage dates by this process's clock; the server's is the ManualClock, started together.
  await teacherSide.acknowledged()
  await until(async () => (await itemIds('p1')).length === 1, { what: 'the parent told' })
  const [notice] = Object.entries((await docJson(server, 's1/inbox/p1')).items) as Array<[string, any]>
  assert.match(notice[0], /^message:s1\/dm\/p1~t1:\d+$/)
  assert.equal({ type: notice[1].type, body: notice[1].body, document: notice[1].data.document }, { type: 'message', body: 'Hello', document: room })
  assert.equal(await itemIds('t1'), [], 'the author is not told')

  // A later period: told again, with one more item.
  await clock.advance(MESSAGE_NOTICE_QUIET_MS)
  teacherSide.doc.getArray('messages').push([{ id: 'later', author: 't1', text: 'Reminder', at: clock.now() }])
  await teacherSide.acknowledged()
  await until(async () => (await itemIds('p1')).length === 2, { what: 'a second notice in the next period' })

  // Connected to the conversation: not told.
  await open(server, room, claims.parent('p1', { children: ['u1'] }))
  await clock.advance(MESSAGE_NOTICE_QUIET_MS)
  teacherSide.doc.getArray('messages').push([{ id: 'live', author: 't1', text: 'You are here', at: clock.now() }])
  await teacherSide.acknowledged()
  // The teacher's own inbox, told of nothing, shows the server has handled the message by then.
  await until(async () => (await docJson(server, room)).messages.length === 5, { what: 'the message stored' })
  assert.is((await itemIds('p1')).length, 2, 'a connected member gets no item')
})

test('a group message tells the members who are away, not the ones in the room', async () => {
  // Joined at the server's time (the clock is ahead of this process's by now).
  const owner = await open(server, 's1/group/g-notice', student('u1'))
  owner.doc.transact(() => {
    const meta = owner.doc.getMap('meta')
    for (const [key, value] of Object.entries({ name: 'Chess club', maxMembers: 10, isPublic: true, owner: 'u1' })) meta.set(key, value)
  })
  owner.doc.getMap('members').set('u1', { at: clock.now() })
  await owner.acknowledged()
  for (const sub of ['u2', 'u3']) {
    const joiner = await open(server, 's1/group/g-notice', student(sub))
    joiner.doc.getMap('members').set(sub, { at: clock.now() })
    await joiner.acknowledged()
    if (sub === 'u3') joiner.provider.destroy() // u3 leaves the room; u2 stays
  }
  owner.doc.getArray('messages').push([{ id: 'g1', author: 'u1', text: 'Tournament on Friday', at: clock.now() }])
  await owner.acknowledged()
  await until(async () => (await itemIds('u3')).some((id) => id.startsWith('message:s1/group/g-notice:')), { what: 'u3 told' })
  assert.ok(!(await itemIds('u2')).some((id) => id.startsWith('message:')), 'u2 is in the room')
  assert.match(((await docJson(server, 's1/inbox/u3')).items as Record<string, any>)[(await itemIds('u3')).find((id) => id.startsWith('message:'))!].title, /Chess club/)
})

test('a new poll for a class tells that class\'s students, once', async () => {
  const poll = await open(server, 's1/poll/pn1', teacher('t1', { classes: ['7a'] }))
  poll.doc.transact(() => {
    const meta = poll.doc.getMap('meta')
    meta.set('question', 'Trip destination?')
    meta.set('options', ['Museum', 'Zoo'])
    meta.set('kind', 'poll')
    meta.set('class', '7a')
  })
  await poll.acknowledged()
  for (const user of ['u1', 'u2']) await until(async () => (await itemIds(user)).includes('poll:s1/poll/pn1'), { what: `${user} told` })
  const notice = (await docJson(server, 's1/inbox/u2')).items['poll:s1/poll/pn1']
  assert.equal({ type: notice.type, title: notice.title }, { type: 'poll', title: 'New poll in 7a: Trip destination?' })
  poll.doc.getMap('meta').set('question', 'Trip destination, final?')
  await poll.acknowledged()
  assert.not.ok((await itemIds('u3')).includes('poll:s1/poll/pn1'), 'a student of 7b is not told')
  assert.not.ok((await itemIds('t1')).includes('poll:s1/poll/pn1'), 'nor the teacher')
})

test.run()
