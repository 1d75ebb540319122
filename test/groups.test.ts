// Study groups: the owner and teachers remove members and close a group (meta.closed: read-only
// until reopened), and GET /api/v1/schools/<s>/groups lists the groups a member may find (public
// ones and those they are invited to or in), by specialty and text.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { useServer } from './helpers/server.ts'
import { closeClients, DEADLINE_MS, open, within } from './helpers/clients.ts'
import { claims, mintToken, student, teacher } from './helpers/tokens.ts'
import { api, assertError } from './helpers/api.ts'
import { docJson } from './helpers/safety.ts'
import { closeGroup, createGroup, joinGroup, removeMember, sendMessage } from '../docs-model/surfaces/chat/surface.ts'

const server = useServer()
test.after.each(closeClients)

async function group(id: string, owner: string, settings: Parameters<typeof createGroup>[2], extra: Record<string, string> = {}): Promise<void> {
  const client = await open(server, `s1/group/${id}`, student(owner))
  createGroup(client.doc, owner, settings)
  for (const [key, value] of Object.entries(extra)) client.doc.getMap('meta').set(key, value)
  await client.acknowledged()
  client.provider.destroy()
}

async function join(id: string, sub: string): Promise<void> {
  const client = await open(server, `s1/group/${id}`, student(sub))
  joinGroup(client.doc, sub)
  await client.acknowledged()
  client.provider.destroy()
}

test('the owner and teachers remove members; other members may not', async () => {
  await group('chess', 'u1', { name: 'Chess club', maxMembers: 10, isPublic: true })
  for (const sub of ['u2', 'u3', 'u4']) await join('chess', sub)
  const peer = await open(server, 's1/group/chess', student('u2'))
  removeMember(peer.doc, 'u3')
  assert.match(await within(peer.closed, DEADLINE_MS, 'a member removing another'), /^forbidden-write: members\/u3/)
  const owner = await open(server, 's1/group/chess', student('u1'))
  removeMember(owner.doc, 'u3')
  await owner.acknowledged()
  const t = await open(server, 's1/group/chess', teacher('t1'))
  removeMember(t.doc, 'u4')
  await t.acknowledged()
  assert.equal(Object.keys((await docJson(server, 's1/group/chess')).members).sort(), ['u1', 'u2'])
})

test('a closed group is read-only until its owner or a teacher reopens it', async () => {
  await group('drama', 'u1', { name: 'Drama', maxMembers: 10, isPublic: true })
  await join('drama', 'u2')
  const owner = await open(server, 's1/group/drama', student('u1'))
  closeGroup(owner.doc)
  await owner.acknowledged()
  const member = await open(server, 's1/group/drama', student('u2'))
  sendMessage(member.doc, 'u2', 'anyone?')
  assert.is(await within(member.closed, DEADLINE_MS, 'a message'), 'frozen: group closed')
  const newcomer = await open(server, 's1/group/drama', student('u5'))
  joinGroup(newcomer.doc, 'u5')
  assert.is(await within(newcomer.closed, DEADLINE_MS, 'a join'), 'frozen: group closed')
  const again = await open(server, 's1/group/drama', student('u2'))
  removeMember(again.doc, 'u2')
  assert.is(await within(again.closed, DEADLINE_MS, 'leaving'), 'frozen: group closed')
  const t = await open(server, 's1/group/drama', teacher('t1'))
  closeGroup(t.doc, false)
  await t.acknowledged()
  const back = await open(server, 's1/group/drama', student('u2'))
  sendMessage(back.doc, 'u2', 'we are back')
  await back.acknowledged()
  assert.equal((await docJson(server, 's1/group/drama')).messages.map((m: { text: string }) => m.text), ['we are back'])
})

test('the listing shows public groups and those one is invited to or in, by specialty and text', async () => {
  await group('robots', 'u1', { name: 'Robotics lab', description: 'Build and program robots', maxMembers: 8, isPublic: true }, { specialty: 'stem' })
  await group('poetry', 'u1', { name: 'Poetry circle', maxMembers: 5, isPublic: false, invited: ['u7'] }, { specialty: 'arts' })
  await group('secret', 'u1', { name: 'Robot secrets', maxMembers: 5, isPublic: false }, { specialty: 'stem' })
  const list = async (who: Parameters<typeof mintToken>[0], query = '') => {
    const response = await api(server, 'GET', `/api/v1/schools/s1/groups${query}`, { token: await mintToken(who) })
    assert.is(response.status, 200, JSON.stringify(response.json))
    return response.json.groups as Array<{ id: string; invited: boolean; member: boolean; members: number; closed: boolean; specialty?: string }>
  }
  const ids = (groups: Array<{ id: string }>) => groups.map((g) => g.id).sort()
  const seenByU6 = await list(student('u6'))
  assert.ok(ids(seenByU6).includes('robots') && !ids(seenByU6).includes('poetry') && !ids(seenByU6).includes('secret'), JSON.stringify(ids(seenByU6)))
  assert.ok(ids(await list(student('u7'))).includes('poetry'), 'the invited student finds the private group')
  assert.is((await list(student('u7'))).find((g) => g.id === 'poetry')!.invited, true)
  assert.ok(ids(await list(student('u1'))).includes('secret'), 'its owner finds it')
  assert.equal(ids(await list(student('u6'), '?specialty=stem')), ['robots'])
  assert.equal(ids(await list(student('u7'), '?specialty=arts&q=POETRY')), ['poetry'])
  assert.equal(ids(await list(student('u6'), '?q=program')), ['robots'], 'the description is searched too')
  assert.ok(ids(await list(claims.admin('a1'))).includes('secret'), 'admins see every group')
  assert.equal(ids(await list(claims.parent('p1', { children: ['u1'] }))), [], 'parents are not learners or staff')
  assertError(await api(server, 'GET', '/api/v1/schools/s2/groups', { token: await mintToken(student('u6')) }), 403, 'forbidden')
})

test.run()
