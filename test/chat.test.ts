// Chat rooms, direct messages and study groups end to end: append-only messages authored by
// their sender, deletion of one's own (teachers moderate), read receipts, text limits, plain-text
// storage, private rooms, and groups with maxMembers and invitations.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { useServer } from './helpers/server.ts'
import { closeClients, connect, DEADLINE_MS, open, until, within, type Client } from './helpers/clients.ts'
import { claims, mintToken, student, teacher } from './helpers/tokens.ts'
import { api } from './helpers/api.ts'
import { deleteMessage, markRead, messagesOf, sendMessage } from '../docs-model/surfaces/chat/surface.ts'
import { createGroup, joinGroup, leaveGroup } from '../docs-model/surfaces/chat/surface.ts'
import type { Claims } from '../server/identity.ts'

const server = useServer()
test.after.each(closeClients)

const texts = (client: Client) => messagesOf(client.doc).map((m) => m.text)

async function refusedOpening(name: string, claims: Claims): Promise<string> {
  const client = connect(server.url, name, await mintToken(claims))
  return within(client.refused, DEADLINE_MS, `refusal of ${name} for ${claims.sub}`)
}

test('messages reach every member, authored by their sender, with read receipts', async () => {
  const ana = await open(server, 's1/chat/7a', student('u1'))
  const ben = await open(server, 's1/chat/7a', student('u2'))
  const id = sendMessage(ana.doc, 'u1', 'hello <b>class</b> <script>alert(1)</script>')
  await until(() => texts(ben).length === 1, { what: 'message at ben' })
  assert.is(messagesOf(ben.doc)[0].author, 'u1')
  markRead(ben.doc, 'u2', id)
  await until(() => ana.doc.getMap('reads').get('u2') === id, { what: 'read receipt at ana' })

  // Stored exactly as sent: plain text, nothing interpreted or escaped by the server.
  const admin = await mintToken(claims.admin('a1'))
  const stored = await api(server, 'GET', '/api/v1/docs/s1/chat/7a', { token: admin })
  assert.is(stored.status, 200)
  assert.ok(JSON.stringify(stored.json).includes('hello <b>class</b> <script>alert(1)</script>'))
})

test('a message in someone else\'s name, or too long, is refused', async () => {
  const forger = await open(server, 's1/chat/forge', student('u1'))
  sendMessage(forger.doc, 'u2', 'I am u2')
  assert.match(await within(forger.closed, DEADLINE_MS, 'refusal'), /^forbidden-write: messages/)

  const verbose = await open(server, 's1/chat/forge', student('u3'))
  sendMessage(verbose.doc, 'u3', 'x'.repeat(4001))
  assert.match(await within(verbose.closed, DEADLINE_MS, 'refusal'), /^forbidden-write/)

  const reader = await open(server, 's1/chat/forge', student('u4'))
  assert.is(texts(reader).length, 0, 'nothing refused was stored or broadcast')
})

test('students delete their own messages only; teachers delete any', async () => {
  const ana = await open(server, 's1/chat/mod', student('u1'))
  const ben = await open(server, 's1/chat/mod', student('u2'))
  const mine = sendMessage(ana.doc, 'u1', 'oops')
  const rude = sendMessage(ana.doc, 'u1', 'rude')
  sendMessage(ben.doc, 'u2', 'hi')
  await until(() => texts(ben).length === 3 && texts(ana).length === 3, { what: 'three messages' })
  deleteMessage(ana.doc, mine)
  await until(() => !texts(ben).includes('oops'), { what: 'own deletion at ben' })

  const benMessage = messagesOf(ben.doc).find((m) => m.author === 'u2')!.id
  deleteMessage(ana.doc, benMessage)
  assert.match(await within(ana.closed, DEADLINE_MS, 'refusal'), /^forbidden-write: messages/)

  const moderator = await open(server, 's1/chat/mod', teacher())
  deleteMessage(moderator.doc, rude)
  await until(() => texts(ben).join() === 'hi', { what: 'moderation at ben' })
})

test('a room with members is closed to others; a direct message to its pair', async () => {
  const owner = await open(server, 's1/chat/staff', teacher('t1'))
  owner.doc.getMap('meta').set('members', ['t1', 't2'])
  await owner.acknowledged()
  assert.match(await refusedOpening('s1/chat/staff', student('u1')), /^forbidden/)
  await open(server, 's1/chat/staff', teacher('t2'))

  const parent = await open(server, 's1/dm/p1~t1', claims.parent('p1', { children: ['u1'] }))
  const teacherSide = await open(server, 's1/dm/p1~t1', teacher('t1'))
  sendMessage(parent.doc, 'p1', 'Is the trip on Friday?')
  await until(() => texts(teacherSide).length === 1, { what: 'dm at the teacher' })
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
  await until(() => owner.doc.getMap('members').size === 10, { what: 'ten members' })

  const eleventh = await open(server, 's1/group/chess', student('u11'))
  joinGroup(eleventh.doc, 'u11')
  assert.match(await within(eleventh.closed, DEADLINE_MS, 'refusal of the 11th'), /^frozen: group is full/)
  assert.is(owner.doc.getMap('members').size, 10)

  leaveGroup(members[9].doc, 'u10')
  await until(() => owner.doc.getMap('members').size === 9, { what: 'u10 left' })
  const again = await open(server, 's1/group/chess', student('u11'))
  joinGroup(again.doc, 'u11')
  await until(() => owner.doc.getMap('members').has('u11'), { what: 'u11 joined' })

  // Only members write messages.
  sendMessage(again.doc, 'u11', 'hi all')
  await until(() => texts(owner).includes('hi all'), { what: 'member message' })
  const outsider = await open(server, 's1/group/chess', student('u12'))
  sendMessage(outsider.doc, 'u12', 'let me in')
  assert.match(await within(outsider.closed, DEADLINE_MS, 'refusal of a non-member'), /^forbidden-write: messages/)
})

test('an invite-only group admits the invited only', async () => {
  const owner = await open(server, 's1/group/band', student('u1'))
  createGroup(owner.doc, 'u1', { name: 'Band', maxMembers: 5, isPublic: false, invited: ['u2'] })
  await owner.acknowledged()
  assert.match(await refusedOpening('s1/group/band', student('u3')), /^forbidden/)
  const invited = await open(server, 's1/group/band', student('u2'))
  joinGroup(invited.doc, 'u2')
  await until(() => owner.doc.getMap('members').has('u2'), { what: 'invited member joined' })
})

test.run()
