// An emergency declared just before the store goes away is still announced: the observer's review
// that the broadcast's change asked for fails (it cannot read the school's members), and is tried
// again once the store answers. The change comes once, so without the retry nobody would hear of
// it (the chaos run found a declared emergency with no inbox item and no `emergency.created`).
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { REVIEW_RETRY_MS } from '../extensions/observers/emergency.ts'
import type { RosterMember } from '../server/store/types.ts'
import { api } from './helpers/api.ts'
import { until } from './helpers/clients.ts'
import { ManualClock } from './helpers/clock.ts'
import { FaultyStore } from './helpers/faulty-store.ts'
import { docJson, putRoster } from './helpers/safety.ts'
import { useServer } from './helpers/server.ts'
import { admin, mintToken } from './helpers/tokens.ts'

const members: RosterMember[] = [
  { id: 'a1', name: 'Ada Admin', role: 'admin' },
  { id: 'u1', name: 'Uma', role: 'student' },
  { id: 'u2', name: 'Udo', role: 'student' },
]
const clock = new ManualClock()
let store: FaultyStore
const server = useServer({}, (dataDir) => ({ clock, store: (store = new FaultyStore(join(dataDir, 'homeroom.db'))) }))
test.before(() => putRoster(server, 's1', members))

const reviewErrors = async () => (await server.app.metrics.observerErrors.get()).values.find((v) => v.labels.where === 'emergency.review')?.value ?? 0

test('a review that fails for want of the store is tried again, and the emergency announced', async () => {
  // The route reads the members, then writes the broadcast; the observer's read after it fails.
  store.appended = (doc) => {
    if (doc.startsWith('s1/emergency/')) store.fail('roster')
  }
  const created = await api(server, 'POST', '/api/v1/schools/s1/emergencies', {
    token: await mintToken(admin('a1')),
    json: { title: 'Lockdown drill', message: 'Stay in your classroom.', level: 'info', targetRoles: ['student'] },
  })
  assert.is(created.status, 201)
  const { id, document } = created.json as { id: string; document: string }
  await until(async () => (await reviewErrors()) > 0, { what: 'the failed review to be counted' })
  store.appended = undefined
  assert.is((await docJson(server, 's1/inbox/u1')).items?.[`emergency:${id}`], undefined, 'not announced while the store is away')

  store.heal()
  const announced = async () => {
    const inboxes = await Promise.all(['u1', 'u2'].map(async (user) => (await docJson(server, `s1/inbox/${user}`)).items?.[`emergency:${id}`]))
    return inboxes.every((item) => item !== undefined)
  }
  await until(async () => {
    await clock.advance(REVIEW_RETRY_MS)
    return announced()
  }, { what: 'the emergency announced to both students' })
  const status = (await docJson(server, document)).status
  assert.type(status.startedAt, 'number')
  assert.is(status.targeted, 2)
})

test.run()
