// Chat rooms, direct messages and study groups end to end: append-only messages authored by
// their sender, deletion of one's own (teachers moderate), read receipts, text limits, plain-text
// storage, private rooms, and groups with maxMembers and invitations.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { startServer, type TestServer } from './helpers/server.ts'
import { closeClients, connect, eventually, within, type Client } from './helpers/clients.ts'
import { mintToken, student, teacher } from './helpers/tokens.ts'
import { open } from './helpers/classroom.ts'
import { api } from './helpers/api.ts'
import { deleteMessage, markRead, messagesOf, sendMessage } from '../docs-model/surfaces/chat/surface.ts'
import { createGroup, joinGroup, leaveGroup } from '../docs-model/surfaces/chat/surface.ts'
import type { Claims } from '../server/identity.ts'

let server: TestServer
test.before(async () => {
  server = await startServer()
})
test.after.each(closeClients)
test.after(async () => {
  await server.stop()
})

const texts = (client: Client) => messagesOf(client.doc).map((m) => m.text)

async function refusedOpening(name: string, claims: Claims): Promise<string> {
  const client = connect(server.url, name, await mintToken(claims))
  return within(client.refused, 5000, `refusal of ${name} for ${claims.sub}`)
}

test('messages reach every member, authored by their sender, with read receipts', async () => {
  const ana = await open(server, 's1/chat/7a', student('u1'))
  const ben = await open(server, 's1/chat/7a', student('u2'))
  const id = sendMessage(ana.doc, 'u1', 'hello <b>class</b> <script>alert(1)</script>')
  await eventually(() => texts(ben).length === 1, 5000, 'message at ben')
  assert.is(messagesOf(ben.doc)[0].author, 'u1')
  markRead(ben.doc, 'u2', id)
  await eventually(() => ana.doc.getMap('reads').get('u2') === id, 5000, 'read receipt at ana')

  // Stored exactly as sent: plain text, nothing interpreted or escaped by the server.
  const admin = await mintToken({ sub: 'a1', role: 'admin', schools: ['s1'] })
  const stored = await api(server, 'GET', '/api/v1/docs/s1/chat/7a', { token: admin })
  assert.is(stored.status, 200)
  assert.ok(JSON.stringify(stored.json).includes('hello <b>class</b> <script>alert(1)</script>'))
})

test('a message in someone else\'s name, or too long, is refused', async () => {
  const forger = await open(server, 's1/chat/forge', student('u1'))
  sendMessage(forger.doc, 'u2', 'I am u2')
  assert.match(await within(forger.closed, 5000, 'refusal'), /^forbidden-write: messages/)

  const verbose = await open(server, 's1/chat/forge', student('u3'))
  sendMessage(verbose.doc, 'u3', 'x'.repeat(4001))
  assert.match(await within(verbose.closed, 5000, 'refusal'), /^forbidden-write/)

  const reader = await open(server, 's1/chat/forge', student('u4'))
  assert.is(texts(reader).length, 0, 'nothing refused was stored or broadcast')
})

test('students delete their own messages only; teachers delete any', async () => {
  const ana = await open(server, 's1/chat/mod', student('u1'))
  const ben = await open(server, 's1/chat/mod', student('u2'))
  const mine = sendMessage(ana.doc, 'u1', 'oops')
  const rude = sendMessage(ana.doc, 'u1', 'rude')
  sendMessage(ben.doc, 'u2', 'hi')
  await eventually(() => texts(ben).length === 3 && texts(ana).length === 3, 5000, 'three messages')
  deleteMessage(ana.doc, mine)
  await eventually(() => !texts(ben).includes('oops'), 5000, 'own deletion at ben')

  const benMessage = messagesOf(ben.doc).find((m) => m.author === 'u2')!.id
  deleteMessage(ana.doc, benMessage)
  assert.match(await within(ana.closed, 5000, 'refusal'), /^forbidden-write: messages/)

  const moderator = await open(server, 's1/chat/mod', teacher())
  deleteMessage(moderator.doc, rude)
  await eventually(() => texts(ben).join() === 'hi', 5000, 'moderation at ben')
})

test('a room with members is closed to others; a direct message to its pair', async () => {
  const owner = await open(server, 's1/chat/staff', teacher('t1'))
  owner.doc.getMap('meta').set('members', ['t1', 't2'])
  await owner.acknowledged()
  assert.match(await refusedOpening('s1/chat/staff', student('u1')), /^forbidden/)
  await open(server, 's1/chat/staff', teacher('t2'))

  const parent = await open(server, 's1/dm/p1~t1', { sub: 'p1', role: 'parent', schools: ['s1'], children: ['u1'] })
  const teacherSide = await open(server, 's1/dm/p1~t1', teacher('t1'))
  sendMessage(parent.doc, 'p1', 'Is the trip on Friday?')
  await eventually(() => texts(teacherSide).length === 1, 5000, 'dm at the teacher')
  assert.match(await refusedOpening('s1/dm/p1~t1', teacher('t2')), /^forbidden/)
})

test('a group of maxMembers 10 refuses its 11th member; leaving makes room', async () => {
  const owner = await open(server, 's1/group/chess', student('u1'))
  createGroup(owner.doc, 'u1', { name: 'Chess club', maxMembers: 10, isPublic: true })
  await owner.acknowledged()
  const members = [owner]
  for (let i = 2; i <= 10; i++) {
    const member = await open(server, 's1/group/chess', student(`u${i}`))
    joinGroup(member.doc, `u${i}`)
    await member.acknowledged()
    members.push(member)
  }
  await eventually(() => owner.doc.getMap('members').size === 10, 5000, 'ten members')

  const eleventh = await open(server, 's1/group/chess', student('u11'))
  joinGroup(eleventh.doc, 'u11')
  assert.match(await within(eleventh.closed, 5000, 'refusal of the 11th'), /^frozen: group is full/)
  assert.is(owner.doc.getMap('members').size, 10)

  leaveGroup(members[9].doc, 'u10')
  await eventually(() => owner.doc.getMap('members').size === 9, 5000, 'u10 left')
  const again = await open(server, 's1/group/chess', student('u11'))
  joinGroup(again.doc, 'u11')
  await eventually(() => owner.doc.getMap('members').has('u11'), 5000, 'u11 joined')

  // Only members write messages.
  sendMessage(again.doc, 'u11', 'hi all')
  await eventually(() => texts(owner).includes('hi all'), 5000, 'member message')
  const outsider = await open(server, 's1/group/chess', student('u12'))
  sendMessage(outsider.doc, 'u12', 'let me in')
  assert.match(await within(outsider.closed, 5000, 'refusal of a non-member'), /^forbidden-write: messages/)
})

test('an invite-only group admits the invited only', async () => {
  const owner = await open(server, 's1/group/band', student('u1'))
  createGroup(owner.doc, 'u1', { name: 'Band', maxMembers: 5, isPublic: false, invited: ['u2'] })
  await owner.acknowledged()
  assert.match(await refusedOpening('s1/group/band', student('u3')), /^forbidden/)
  const invited = await open(server, 's1/group/band', student('u2'))
  joinGroup(invited.doc, 'u2')
  await eventually(() => owner.doc.getMap('members').has('u2'), 5000, 'invited member joined')
})

test.run()
