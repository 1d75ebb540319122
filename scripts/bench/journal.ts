// Journal cost per update. Run pinned: `taskset -c 1 node scripts/bench/journal.ts`.
// 1. The append alone: median and p99 time to journal a 30-byte update in SQLite (WAL).
// 2. End to end, side by side in the same run: a client's update until its acknowledgement on
//    Homeroom versus bare Hocuspocus (no extensions), as a ratio.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Server } from '@hocuspocus/server'
import * as Y from 'yjs'
import { SqliteStore } from '../../server/store/sqlite.ts'
import { loadConfig } from '../../server/config.ts'
import { createHomeroom } from '../../server/app.ts'
import { connect } from '../../test/helpers/clients.ts'
import { mintToken, teacher, TEST_SECRET } from '../../test/helpers/tokens.ts'

const ROUNDS = Number(process.env.ROUNDS ?? 5)
const APPENDS = 5000
const ROUND_TRIPS = 500

const quantile = (values: number[], q: number) => [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor(q * values.length))]
const median = (values: number[]) => quantile(values, 0.5)
const us = (ms: number) => `${(ms * 1000).toFixed(1)} µs`

function thirtyByteUpdate(): Uint8Array {
  const doc = new Y.Doc()
  let update: Uint8Array = new Uint8Array()
  doc.on('update', (u: Uint8Array) => (update = u))
  doc.getMap('meta').set('k', 'abcdef')
  if (update.length < 20 || update.length > 40) throw new Error(`update is ${update.length} bytes`)
  return update
}

async function appendTimes(): Promise<number[]> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-journal-'))
  const store = new SqliteStore(join(dir, 'homeroom.db'))
  const update = thirtyByteUpdate()
  const times: number[] = []
  for (let i = 0; i < APPENDS; i++) {
    const started = performance.now()
    store.appendSync(`s1/doc/d${i % 50}`, { at: Date.now(), user: 'u1', origin: 'client', update })
    times.push(performance.now() - started)
  }
  await store.close()
  rmSync(dir, { recursive: true, force: true })
  return times
}

/** Median milliseconds from a local change to the server's acknowledgement. */
async function roundTrip(url: string, token: string, name: string): Promise<number> {
  const client = connect(url, name, token)
  await client.synced
  const times: number[] = []
  const meta = client.doc.getMap('meta')
  for (let i = 0; i < ROUND_TRIPS; i++) {
    const started = performance.now()
    meta.set('k', `v${i}`)
    await client.acknowledged()
    times.push(performance.now() - started)
  }
  client.destroy()
  return median(times)
}

const dir = mkdtempSync(join(tmpdir(), 'bench-homeroom-'))
const homeroom = createHomeroom(loadConfig({ PORT: '0', HOST: '127.0.0.1', DATA_DIR: dir, JWT_SECRET: TEST_SECRET, LOG_LEVEL: 'silent', MAX_MESSAGES_PER_SEC: '100000' }))
const { port } = await homeroom.start()
const bare = new Server({ port: 0, address: '127.0.0.1', quiet: true, stopOnSignals: false })
await bare.listen()
const token = await mintToken(teacher())

const appendMedians: number[] = []
const appendP99s: number[] = []
const ratios: number[] = []
for (let round = 0; round < ROUNDS; round++) {
  const times = await appendTimes()
  appendMedians.push(median(times))
  appendP99s.push(quantile(times, 0.99))
  const withJournal = await roundTrip(`ws://127.0.0.1:${port}`, token, `s1/doc/bench${round}`)
  const baseline = await roundTrip(`ws://127.0.0.1:${bare.address.port}`, token, `s1/doc/bench${round}`)
  ratios.push(withJournal / baseline)
  console.log(`round ${round + 1}: append median ${us(median(times))}, p99 ${us(quantile(times, 0.99))}; ack ${withJournal.toFixed(3)} ms vs bare Hocuspocus ${baseline.toFixed(3)} ms`)
}
console.log(`\njournal append of a ${thirtyByteUpdate().length}-byte update (SQLite WAL): median ${us(median(appendMedians))}, p99 ${us(median(appendP99s))} (medians of ${ROUNDS} rounds × ${APPENDS})`)
console.log(`update → acknowledgement, Homeroom / bare Hocuspocus: ${median(ratios).toFixed(2)}× (median of ${ROUNDS} rounds × ${ROUND_TRIPS})`)
await homeroom.stop()
await bare.destroy()
rmSync(dir, { recursive: true, force: true })
process.exit(0)
