// The observer registry: an observer hears only of the surfaces it declares, learns who made a
// change, is not handed its own derived writes, and an observer's failure is contained.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import type { Extension } from '@hocuspocus/server'
import { Observers, type Change, type Observer } from '../extensions/observers/registry.ts'
import { serverWrite, SERVER_USER } from '../server/writes.ts'
import { startServer, type TestServer } from './helpers/server.ts'
import { closeClients, open, until } from './helpers/clients.ts'
import { claims } from './helpers/tokens.ts'

class Recorder implements Observer {
  readonly name: string
  readonly surfaces: readonly string[]
  readonly changes: Array<Pick<Change, 'source'> & { name: string }> = []
  readonly loads: string[] = []
  readonly unloads: string[] = []
  fail = false

  constructor(name: string, surfaces: readonly string[]) {
    this.name = name
    this.surfaces = surfaces
  }

  changed({ ref, source }: Change): void {
    this.changes.push({ name: ref.name, source })
    if (this.fail) throw new Error(`${this.name} failed on purpose`)
  }

  loaded(ref: { name: string }): void {
    this.loads.push(ref.name)
  }

  unloaded(ref: { name: string }): void {
    this.unloads.push(ref.name)
  }
}

const polls = new Recorder('polls', ['poll'])
const others = new Recorder('others', ['poll', 'doc'])
let registry: Observers | undefined
let server: TestServer

// The registry needs the running app, the app takes its extensions first: this one forwards to it.
const forward: Extension = {
  extensionName: 'test-observers',
  afterLoadDocument: (payload) => registry!.afterLoadDocument(payload),
  onChange: (payload) => registry!.onChange(payload),
  afterUnloadDocument: (payload) => registry!.afterUnloadDocument(payload),
}

test.before(async () => {
  server = await startServer({}, { extensions: [forward] })
  registry = new Observers(server.app, [polls, others])
})
test.after.each(() => closeClients())
test.after(() => server.stop())

test('an observer hears only of the surface keys it declares, with who made the change', async () => {
  const teacher = await open(server, 's1/poll/p1', claims.teacher('t1', { schools: ['s1'] }))
  teacher.doc.getMap('meta').set('question', 'Lunch?')
  await until(() => polls.changes.some((c) => c.name === 's1/poll/p1' && c.source === 'client'), { what: 'the teacher’s change heard by the poll observer' })
  await serverWrite(server.app.hocuspocus, 's1/doc/d1', (doc) => doc.getMap('comments').set('server:c1', { text: 'hi', at: 1 }))
  // One hook call reaches every watching observer in turn: once `others` has it, `polls` had its chance.
  await until(() => others.changes.some((c) => c.name === 's1/doc/d1' && c.source === 'server'), { what: 'the server write heard by the doc observer' })
  assert.not.ok(polls.changes.some((c) => c.name === 's1/doc/d1'), 'the poll observer does not hear of a doc')
  assert.ok(polls.loads.includes('s1/poll/p1') && !polls.loads.includes('s1/doc/d1'))
  await until(() => others.unloads.includes('s1/doc/d1'), { what: 'the unload of s1/doc/d1' })
})

test('a derived write is not handed back to the observer that made it, but to every other', async () => {
  const before = { polls: polls.changes.length, others: others.changes.length }
  await serverWrite(server.app.hocuspocus, 's1/poll/p2', (doc) => doc.getMap('tallies').set('0', 1), { user: SERVER_USER, derivedBy: 'polls' })
  await until(() => others.changes.length > before.others, { what: 'the derived write heard by the other observer' })
  assert.equal(others.changes.slice(before.others), [{ name: 's1/poll/p2', source: 'server' }])
  assert.is(polls.changes.length, before.polls, 'the poll observer did not hear its own write')
})

test('an observer that throws is counted and logged; the others still run', async () => {
  polls.fail = true
  const errorsBefore = (await server.app.metrics.observerErrors.get()).values.find((v) => v.labels.where === 'polls.changed')?.value ?? 0
  const before = others.changes.length
  await serverWrite(server.app.hocuspocus, 's1/poll/p3', (doc) => doc.getMap('meta').set('question', 'Break?'))
  await until(() => others.changes.length > before, { what: 'the change heard by the observer after the failing one' })
  polls.fail = false
  const errorsAfter = (await server.app.metrics.observerErrors.get()).values.find((v) => v.labels.where === 'polls.changed')?.value ?? 0
  assert.is(errorsAfter, errorsBefore + 1)
  assert.equal(others.changes.slice(before), [{ name: 's1/poll/p3', source: 'server' }])
})

test.run()
