// The SQLite server store's append log: what a killed process had recorded (acknowledged) is in
// the journal after the next open, exactly once, whether or not it had been moved into SQLite;
// a torn record at the end (a write cut by a power loss, never acknowledged) is dropped alone.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { spawnSync } from 'node:child_process'
import { appendFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import * as Y from 'yjs'
import { SqliteStore } from '../server/store/sqlite.ts'
import { replay } from '../server/history/replay.ts'
import { tempDir } from './helpers/server.ts'

const RECORDS = 200
const sqlite = new URL('../server/store/sqlite.ts', import.meta.url).href

/**
 * In a child process: records RECORDS updates of `s1/doc/crash` (each setting meta/k<i>), then,
 * when `moved`, reads the journal (which moves them into SQLite), then kills itself with SIGKILL.
 */
function recordThenKill(file: string, moved: boolean): void {
  const script = `
    import * as Y from 'yjs'
    const { SqliteStore } = await import(${JSON.stringify(sqlite)})
    const store = new SqliteStore(${JSON.stringify(file)}, { appendLog: true })
    const doc = new Y.Doc()
    const updates = []
    doc.on('update', (u) => updates.push(u))
    for (let i = 0; i < ${RECORDS}; i++) doc.getMap('meta').set('k' + i, i)
    await Promise.all(updates.map((update, i) => store.record('s1/doc/crash', { at: 1000 + i, user: 'u1', origin: 'client', update })))
    if (${moved}) await store.entriesAfter('s1/doc/crash', 0)
    process.kill(process.pid, 'SIGKILL')`
  const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: process.cwd(), encoding: 'utf8' })
  assert.is(child.signal, 'SIGKILL', child.stderr)
}

async function journaled(file: string): Promise<{ entries: number; inOrder: boolean; values: Record<string, unknown>; recovered: number; torn: number }> {
  const store = new SqliteStore(file, { appendLog: true })
  try {
    const list = await store.entriesAfter('s1/doc/crash', 0)
    // Moved in batches of many rows per statement: sequence numbers still follow the recording order.
    const inOrder = list.every((e, i) => e.at === 1000 + i && (i === 0 || e.seq > list[i - 1].seq))
    const { doc } = await replay(store, 's1/doc/crash')
    return { entries: list.length, inOrder, values: doc.getMap('meta').toJSON(), recovered: store.recovered.entries, torn: store.recovered.tornBytes }
  } finally {
    await store.close()
  }
}

const expected = Object.fromEntries(Array.from({ length: RECORDS }, (_, i) => [`k${i}`, i]))

test('entries recorded but not yet moved into SQLite when the process is killed are recovered on the next open', async () => {
  const dir = tempDir()
  try {
    const file = join(dir, 'homeroom.db')
    recordThenKill(file, false)
    const after = await journaled(file)
    assert.is(after.recovered, RECORDS)
    assert.is(after.entries, RECORDS)
    assert.ok(after.inOrder, 'journaled in the order recorded')
    assert.equal(after.values, expected)
    assert.is((await journaled(file)).entries, RECORDS, 'a second open moves nothing again')
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test('entries already moved when the process is killed are not moved twice', async () => {
  const dir = tempDir()
  try {
    const file = join(dir, 'homeroom.db')
    recordThenKill(file, true)
    const after = await journaled(file)
    assert.is(after.recovered, 0)
    assert.is(after.entries, RECORDS)
    assert.ok(after.inOrder, 'journaled in the order recorded')
    assert.equal(after.values, expected)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test('a torn record at the end of the log is dropped; every whole record before it is kept', async () => {
  const dir = tempDir()
  try {
    const file = join(dir, 'homeroom.db')
    recordThenKill(file, false)
    appendFileSync(`${file}-log`, Buffer.from([40, 0, 0, 0, 1, 2, 3, 4, 5, 6])) // a header promising 40 bytes, then 2
    const after = await journaled(file)
    assert.is(after.entries, RECORDS)
    assert.equal(after.values, expected)
    assert.is(after.torn, 10)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test('a store without the log (the command line) reads what the server store moved, and the server store reads its appends', async () => {
  const dir = tempDir()
  const file = join(dir, 'homeroom.db')
  const server = new SqliteStore(file, { appendLog: true })
  const cli = new SqliteStore(file)
  try {
    const doc = new Y.Doc()
    const updates: Uint8Array[] = []
    doc.on('update', (u: Uint8Array) => updates.push(u))
    doc.getMap('meta').set('a', 1)
    doc.getMap('meta').set('b', 2)
    await server.record('s1/doc/x', { at: 1, user: 'u1', origin: 'client', update: updates[0] })
    await server.entriesAfter('s1/doc/x', 0)
    await cli.append('s1/doc/x', { at: 2, user: null, origin: 'import', update: updates[1] })
    assert.equal((await cli.entriesAfter('s1/doc/x', 0)).map((e) => e.at), [1, 2])
    assert.equal((await server.entriesAfter('s1/doc/x', 0)).map((e) => e.at), [1, 2])
  } finally {
    await server.close()
    await cli.close()
    rmSync(dir, { recursive: true, force: true })
  }
})

test.run()
