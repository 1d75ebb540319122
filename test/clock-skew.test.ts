// Time is the server's: every client-written `at` (a value's `at` field, or a key named `at`)
// outside CLOCK_SKEW_S of the server's clock, either way, is refused with
// `forbidden-write: <path>/at (clock skew)`, not applied and not stored. The window follows the
// server's clock (a ManualClock here), not the client's.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { useServer } from './helpers/server.ts'
import { closeClients, DEADLINE_MS, open, within } from './helpers/clients.ts'
import { student } from './helpers/tokens.ts'
import { docJson } from './helpers/safety.ts'
import { ManualClock } from './helpers/clock.ts'
import { clockSkew } from '../docs-model/rules.ts'

const SKEW_S = 60
const clock = new ManualClock(Date.parse('2026-05-04T10:00:00Z'))
const server = useServer({ CLOCK_SKEW_S: String(SKEW_S) }, { clock })
test.after.each(closeClients)

const message = (id: string, at: unknown) => ({ id, author: 'u1', text: 'hello', at })

test('chat messages dated outside the window around the server clock are refused, inside it accepted', async () => {
  const now = clock.now()
  const cases: Array<[string, unknown, boolean]> = [
    ['now', now, true],
    ['the window edge in the past', now - SKEW_S * 1000, true],
    ['the window edge in the future', new Date(now + SKEW_S * 1000).toISOString(), true],
    ['one millisecond too old', now - SKEW_S * 1000 - 1, false],
    ['one millisecond too new', now + SKEW_S * 1000 + 1, false],
    ['in 2020', '2020-09-01T08:00:00Z', false],
    ['unreadable', 'yesterday', false],
  ]
  for (const [i, [what, at, accepted]] of cases.entries()) {
    const room = await open(server, 's1/chat/skew', student('u1'))
    room.doc.getArray('messages').push([message(`m${i}`, at)])
    if (accepted) await room.acknowledged()
    else assert.is(await within(room.closed, DEADLINE_MS, what), 'forbidden-write: messages/at (clock skew)', what)
    room.provider.destroy()
  }
  const stored = (await docJson(server, 's1/chat/skew')).messages.map((m: { id: string }) => m.id)
  assert.equal(stored, ['m0', 'm1', 'm2'], 'nothing refused was stored')
})

test('keys named at and the at of other surfaces are held to the same window', async () => {
  const ballot = await open(server, 's1/poll/p1/ballot/u1', student('u1'))
  ballot.doc.getMap('ballot').set('at', Date.parse('2020-01-01T00:00:00Z'))
  assert.is(await within(ballot.closed, DEADLINE_MS, 'ballot'), 'forbidden-write: ballot/at (clock skew)')
  const activity = await open(server, 's1/class/7a', student('u1', { classes: ['7a'] }))
  activity.doc.getMap('activity').set('u1', { state: 'active', at: clock.now() + 3_600_000 })
  assert.is(await within(activity.closed, DEADLINE_MS, 'activity'), 'forbidden-write: activity/u1/at (clock skew)')
})

test('the window moves with the server clock, not the client\'s', async () => {
  await clock.advance(2 * 3600_000) // the server is two hours ahead of this process
  const room = await open(server, 's1/chat/later', student('u1'))
  room.doc.getArray('messages').push([message('on-server-time', clock.now())])
  await room.acknowledged()
  room.doc.getArray('messages').push([message('on-client-time', Date.now())])
  assert.is(await within(room.closed, DEADLINE_MS, 'client time'), 'forbidden-write: messages/at (clock skew)')
})

test('clockSkew reads both shapes', () => {
  const time = { now: () => 10_000_000, skewMs: 1000 }
  assert.is(clockSkew(['messages'], { at: 10_000_500 }, time), null)
  assert.is(clockSkew(['messages'], { text: 'no time' }, time), null)
  assert.is(clockSkew(['acks', 'u1'], { at: 1 }, time), 'forbidden-write: acks/u1/at (clock skew)')
  assert.is(clockSkew(['progress', 'at'], 9_000_000, time), 'forbidden-write: progress/at (clock skew)')
  assert.is(clockSkew(['progress', 'current'], 3, time), null)
})

test.run()
