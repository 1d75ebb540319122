// Retention: old chat messages removed as a new change (live clients see it), old bus trail
// points deleted, conversation history before the window dropped, through the server and through
// `homeroom retention run`; on SQLite, and on PostgreSQL when it can be reached.
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import type * as Y from 'yjs'
import { DAY_MS, runRetention, startRetentionTimer } from '../server/retention.ts'
import { stateAt } from '../server/history/replay.ts'
import { historyBounds, TimeTravelError } from '../server/history/time.ts'
import { serverWrite } from '../server/writes.ts'
import { useServer } from './helpers/server.ts'
import { closeClients, open, until } from './helpers/clients.ts'
import { student, teacher } from './helpers/tokens.ts'
import { runCli } from './helpers/cli.ts'
import { freshDatabase } from './helpers/services.ts'

function retentionSuite(label: string, env: Record<string, string>, cleanup: () => Promise<void>) {
  const test = suite(`retention on ${label}`)

  const CHAT = 's1/chat/retained'
  const DM = 's1/dm/t1~u1'
  const server = useServer(env, {}, test)
  test.after(cleanup)

  const texts = (doc: Y.Doc): string[] => doc.getArray<{ text: string }>('messages').toArray().map((m) => m.text)
  const point = (at: number) => ({ lat: 48.1, lng: 11.5, speed: 30, heading: 90, at })


  test('the server removes old messages for live clients and deletes old trail points', async () => {
    const now = Date.now()
    const chat = await open(server, CHAT, teacher('t1'))
    // Messages from the past, as history imported into the server holds them: a client can no
    // longer date a message outside CLOCK_SKEW_S of the server's clock.
    await serverWrite(server.app.hocuspocus, CHAT, (d) =>
      d.getArray('messages').push([
        { id: 'a', author: 't1', text: 'forty days ago', at: now - 40 * DAY_MS },
        { id: 'b', author: 't1', text: 'as ISO, old', at: new Date(now - 31 * DAY_MS).toISOString() },
        { id: 'c', author: 't1', text: 'yesterday', at: now - DAY_MS },
      ]),
    )
    await until(() => texts(chat.doc).length === 3, { what: 'the live client to see the history' })
    await server.app.store.appendTrail('s1/b1', point(now - 40 * DAY_MS))
    await server.app.store.appendTrail('s1/b1', point(now - 1000))
    const report = await runRetention({
      store: server.app.store,
      chatDays: 30,
      busTrailDays: 30,
      now,
      apply: (name, change) => serverWrite(server.app.hocuspocus, name, change),
    })
    assert.is(report.messagesRemoved, 2)
    assert.is(report.trailPointsDeleted, 1)
    await until(() => texts(chat.doc).join() === 'yesterday', { what: 'the live client to lose the old messages' })
    assert.equal((await server.app.store.trail('s1/b1', 0)).map((p) => p.at), [now - 1000])
    const again = await runRetention({ store: server.app.store, chatDays: 30, busTrailDays: 30, now, apply: () => Promise.reject(new Error('nothing to apply')) })
    assert.is(again.messagesRemoved, 0, 'a second run finds nothing')
    chat.destroy()
  })

  test('history before the window is dropped and time travel refuses it', async () => {
    const chat = await open(server, CHAT, teacher('t1'))
    chat.doc.getArray('messages').push([{ id: 'd', author: 't1', text: 'before the window', at: Date.now() }])
    await chat.acknowledged()
    const windowStart = Date.now()
    await until(() => Date.now() > windowStart, { timeout: 1000, what: 'the clock to move' })
    chat.doc.getArray('messages').push([{ id: 'e', author: 't1', text: 'inside the window', at: Date.now() }])
    await chat.acknowledged()
    const run = () =>
      runRetention({
        store: server.app.store,
        chatDays: 30,
        busTrailDays: 30,
        now: windowStart + 30 * DAY_MS,
        apply: (name, change) => serverWrite(server.app.hocuspocus, name, change),
      })
    // The first run snapshots the window start; history before it goes once no replay can be
    // using an older snapshot, at the latest on the next run.
    const dropped = (await run()).entriesDropped + (await run()).entriesDropped
    assert.ok(dropped >= 3, `dropped ${dropped}`)
    await until(() => texts(chat.doc).join() === 'inside the window', { what: 'the live client to converge' })
    const bounds = await historyBounds(server.app.store, CHAT)
    assert.ok(bounds.start > 0 && bounds.start <= windowStart)
    const refused = await stateAt(server.app.store, CHAT, bounds.start - 1).then(
      () => undefined,
      (error) => error,
    )
    assert.instance(refused, TimeTravelError)
    assert.is(refused.code, 'before-retention')
    const atWindow = await stateAt(server.app.store, CHAT, windowStart)
    assert.equal(texts(atWindow), ['yesterday', 'before the window'], 'the snapshot at the window start holds the state then')
    chat.destroy()
  })

  test('the server\'s daily run removes old messages for live clients, once per day per store', async () => {
    const chat = await open(server, 's1/chat/daily', teacher('t1'))
    await serverWrite(server.app.hocuspocus, 's1/chat/daily', (d) => d.getArray('messages').push([{ id: 'old', author: 't1', text: 'last year', at: Date.now() - 400 * DAY_MS }]))
    chat.doc.getArray('messages').push([{ id: 'new', author: 't1', text: 'today', at: Date.now() }])
    await chat.acknowledged()
    const stop = startRetentionTimer(server.app, 0)
    try {
      await until(() => texts(chat.doc).join() === 'today', { what: 'the daily run to remove last year\'s message' })
      assert.not.ok(await server.app.store.claim(`retention:${new Date().toISOString().slice(0, 10)}`), 'the day is claimed')
    } finally {
      stop()
      chat.destroy()
    }
  })

  test('`homeroom retention run` applies the rules to a stopped server\'s store', async () => {
    const now = Date.now()
    const dm = await open(server, DM, student('u1'))
    await serverWrite(server.app.hocuspocus, DM, (d) => d.getArray('messages').push([{ id: 'x', author: 'u1', text: 'old question', at: now - 10 * DAY_MS }]))
    dm.doc.getArray('messages').push([{ id: 'y', author: 'u1', text: 'new question', at: now }])
    await dm.acknowledged()
    await server.app.store.appendTrail('s1/b2', point(now - 3 * DAY_MS))
    closeClients()
    await server.stop()
    const result = await runCli(server.dataDir, ['retention', 'run', '--json'], { ...env, CHAT_RETENTION_DAYS: '7', BUS_TRAIL_RETENTION_DAYS: '2' })
    assert.is(result.code, 0, result.stderr)
    const report = result.json()
    assert.is(report.messagesRemoved, 1, 'only the dm message is older than 7 days')
    assert.is(report.trailPointsDeleted, 1)
    const shown = await runCli(server.dataDir, ['docs', 'show', DM], env)
    assert.equal(shown.json().messages.map((m: { text: string }) => m.text), ['new question'])
    const history = (await runCli(server.dataDir, ['docs', 'history', DM, '--json'], env)).json()
    assert.equal(history.at(-1).user, 'retention')
    const text = await runCli(server.dataDir, ['retention', 'run'], env)
    assert.is(text.code, 0, text.stderr)
    assert.match(text.stdout, /conversation documents: removed 0 messages older than/)
  })

  return test
}

// Both suites are queued in the same turn so that uvu runs them one after the other.
const database = await freshDatabase('retention')
retentionSuite('SQLite', {}, async () => {}).run()
if (database) retentionSuite('PostgreSQL', { DATABASE_URL: database.url }, () => database.drop()).run()
