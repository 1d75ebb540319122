// A fresh client of the B4 document after a restart, without replaying the trace through a
// server first (trace.ts does that, in minutes): the trace's final state is built here, stored
// as a graceful stop leaves it (one snapshot, no tail), and each round starts a fresh Homeroom
// process on a copy (pinned with taskset, `servers.ts`), opens one empty document (the first
// connection's own costs) and then the B4 document. Prints, per round and as medians: the load's
// wall time, the server's CPU time for it (less noisy on a shared machine), Yjs' own parse of the
// state in this process and the empty open, against the goal of 3× parse plus one open. Then a
// copy of the document under another name in the same process: a document not in memory on a
// process that has loaded one before (what is left once V8 has compiled Yjs' decoder).
// Run: `taskset -c 0 npx node scripts/bench/cold-load.ts` (ROUNDS=7).
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { gunzipSync } from 'node:zlib'
import * as Y from 'yjs'
import { SqliteStore } from '../../server/store/sqlite.ts'
import { connect } from '../../test/helpers/clients.ts'
import { mintToken, teacher } from '../../test/helpers/tokens.ts'
import { median, spread, startMeasured, type MeasuredServer } from './servers.ts'

const ROUNDS = Number(process.env.ROUNDS ?? 7)
const NAME = 's1/doc/b4'
const COPY = 's1/doc/b4-copy'

type Patch = [position: number, deleted: number, inserted: string]

/** The B4 trace's final document, laid out as trace.ts types it (a paragraph's text in `body`). */
function finalState(): Uint8Array {
  const trace = JSON.parse(gunzipSync(readFileSync(new URL('data/automerge-paper.json.gz', import.meta.url))).toString()) as { txns: Array<{ patches: Patch[] }> }
  const doc = new Y.Doc()
  const paragraph = new Y.XmlElement('paragraph')
  const text = new Y.XmlText()
  doc.transact(() => {
    doc.getXmlFragment('body').insert(0, [paragraph])
    paragraph.insert(0, [text])
  })
  for (const { patches } of trace.txns) {
    for (const [position, deleted, inserted] of patches) {
      doc.transact(() => {
        if (deleted > 0) text.delete(position, deleted)
        if (inserted.length > 0) text.insert(position, inserted)
      })
    }
  }
  return Y.encodeStateAsUpdate(doc)
}

async function seed(dir: string, state: Uint8Array): Promise<void> {
  const store = new SqliteStore(join(dir, 'homeroom.db'))
  for (const name of [NAME, COPY]) {
    const seq = await store.append(name, { at: Date.now(), user: 'u-teacher', origin: 'client', update: state })
    await store.writeSnapshot({ doc: name, seq, at: Date.now(), state })
  }
  await store.close()
}

/** Wall milliseconds from connecting until synced, and the server's CPU microseconds meanwhile. */
async function open(server: MeasuredServer, token: string, name: string): Promise<{ ms: number; cpuUs: number; doc: Y.Doc }> {
  const before = await server.cpu()
  const started = performance.now()
  const client = connect(server.url, name, token)
  await client.synced
  const ms = performance.now() - started
  const after = await server.cpu()
  const doc = client.doc
  client.destroy()
  return { ms, cpuUs: after - before, doc }
}

function parseMs(state: Uint8Array): number {
  const times: number[] = []
  for (let i = 0; i < 5; i++) {
    const started = performance.now()
    Y.applyUpdate(new Y.Doc(), state)
    times.push(performance.now() - started)
  }
  return median(times)
}

const state = finalState()
const seeded = mkdtempSync(join(tmpdir(), 'bench-cold-'))
await seed(seeded, state)
const token = await mintToken(teacher())
const rows: Array<{ ms: number; cpuMs: number; warmMs: number; warmCpuMs: number; emptyMs: number; parse: number }> = []
console.log(`B4 final state ${(state.byteLength / 1024).toFixed(0)} KiB, ${ROUNDS} rounds, each a fresh server process`)
try {
  for (let round = 0; round < ROUNDS; round++) {
    const dir = mkdtempSync(join(tmpdir(), 'bench-cold-run-'))
    cpSync(seeded, dir, { recursive: true })
    const server = await startMeasured('homeroom', { DATA_DIR: dir })
    try {
      const empty = await open(server, token, `s1/doc/empty-${round}`)
      const cold = await open(server, token, NAME)
      const warm = await open(server, token, COPY)
      for (const { doc } of [cold, warm]) {
        if (!Buffer.from(Y.encodeStateVector(doc)).equals(Buffer.from(Y.encodeStateVectorFromUpdate(state)))) throw new Error('the loaded document differs from the stored one')
      }
      const parse = parseMs(state)
      rows.push({ ms: cold.ms, cpuMs: cold.cpuUs / 1000, warmMs: warm.ms, warmCpuMs: warm.cpuUs / 1000, emptyMs: empty.ms, parse })
      console.log(
        `round ${round + 1}: cold load ${cold.ms.toFixed(0)} ms, server CPU ${(cold.cpuUs / 1000).toFixed(1)} ms; in a warm process ${warm.ms.toFixed(0)} ms, ${(warm.cpuUs / 1000).toFixed(1)} ms; ` +
          `empty open ${empty.ms.toFixed(1)} ms; Yjs parse ${parse.toFixed(1)} ms`,
      )
    } finally {
      await server.stop()
      rmSync(dir, { recursive: true, force: true })
    }
  }
} finally {
  rmSync(seeded, { recursive: true, force: true })
}
const m = (f: (row: (typeof rows)[number]) => number) => median(rows.map(f))
console.log(`\nmedians: cold load ${m((r) => r.ms).toFixed(0)} ms (${spread(rows.map((r) => r.ms), 0)}), server CPU ${m((r) => r.cpuMs).toFixed(1)} ms (${spread(rows.map((r) => r.cpuMs), 1)})`)
console.log(`  warm process: load ${m((r) => r.warmMs).toFixed(0)} ms (${spread(rows.map((r) => r.warmMs), 0)}), server CPU ${m((r) => r.warmCpuMs).toFixed(1)} ms (${spread(rows.map((r) => r.warmCpuMs), 1)})`)
console.log(`         Yjs parse ${m((r) => r.parse).toFixed(1)} ms, empty open ${m((r) => r.emptyMs).toFixed(1)} ms: goal <= ${m((r) => 3 * r.parse + r.emptyMs).toFixed(0)} ms`)
process.exit(0)
