// The B4 replay (issue 17): the automerge-paper editing trace (scripts/bench/data, CC BY 4.0)
// typed through one @hocuspocus/provider with at most 64 unacknowledged updates, into Homeroom
// and into bare Hocuspocus from the same node_modules, side by side in the same run: each server
// in a child process pinned to its own CPU (taskset), this client on another, rounds alternating.
// Prints medians over rounds: keystrokes acknowledged per second and the ratio; server CPU per
// keystroke overall and per tenth of the trace (flat or growing); Homeroom's stored bytes after a
// graceful stop; a fresh client's load after the restart against Yjs' own parse time of the state.
// Run: `npx node scripts/bench/trace.ts` (ROUNDS=3, TRACE_FRACTION=1, CLIENT_CPU=0, SERVER_CPU=1,
// MERGE_WAIT_MS=61000: how long the typist stays after the trace, so history gets merged;
// BENCH_PROFILE_DIR=dir writes the servers' CPU profiles there).
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { gunzipSync } from 'node:zlib'
import * as Y from 'yjs'
import { connect } from '../../test/helpers/clients.ts'
import { mintToken, teacher } from '../../test/helpers/tokens.ts'

const ROUNDS = Number(process.env.ROUNDS ?? 3)
const FRACTION = Number(process.env.TRACE_FRACTION ?? 1)
const WINDOW = 64
const CLIENT_CPU = process.env.CLIENT_CPU ?? '0'
const SERVER_CPU = process.env.SERVER_CPU ?? '1'
const MERGE_WAIT_MS = Number(process.env.MERGE_WAIT_MS ?? 61_000)
const TICKS_PER_S = 100 // Linux USER_HZ, the unit of /proc/<pid>/stat times

type Patch = [position: number, deleted: number, inserted: string]
const trace = JSON.parse(gunzipSync(readFileSync(new URL('data/automerge-paper.json.gz', import.meta.url))).toString()) as {
  endContent: string
  txns: Array<{ patches: Patch[] }>
}
const allPatches = trace.txns.flatMap((t) => t.patches)
const patches = allPatches.slice(0, Math.round(allPatches.length * FRACTION))

const quantile = (values: number[], q: number) => [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor(q * values.length))]
const median = (values: number[]) => quantile(values, 0.5)

function taskset(): boolean {
  try {
    execFileSync('taskset', ['-cp', CLIENT_CPU, String(process.pid)], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}
const pinned = taskset()

interface Running {
  child: ChildProcess
  port: number
  /** CPU seconds the server process has used so far. */
  cpu(): number
  stop(): Promise<void>
}

async function startServer(mode: 'bare' | 'homeroom', dataDir: string): Promise<Running> {
  const script = new URL('journal-server.ts', import.meta.url).pathname
  const node = [process.execPath, ...(process.env.BENCH_PROFILE_DIR ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE_DIR}`] : []), script, mode, dataDir]
  const [command, args] = pinned ? ['taskset', ['-c', SERVER_CPU, ...node]] : [node[0], node.slice(1)]
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'inherit'] })
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  const port = await new Promise<number>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (line.startsWith('{"port"')) resolve(JSON.parse(line).port)
    })
    void exited.then(() => reject(new Error(`${mode} server exited before listening`)))
  })
  return {
    child,
    port,
    cpu() {
      const fields = readFileSync(`/proc/${child.pid}/stat`, 'utf8').split(') ')[1].split(' ')
      return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_S
    },
    async stop() {
      child.kill('SIGTERM')
      await exited
    },
  }
}

interface Replayed {
  /** Closes the typist's connection (the document then unloads, after its last store). */
  close(): void
  seconds: number
  cpuSeconds: number
  /** Server CPU seconds spent in each tenth of the trace. */
  tenths: number[]
}

async function replayTrace(server: Running, token: string, name: string): Promise<Replayed> {
  const client = connect(`ws://127.0.0.1:${server.port}`, name, token)
  await client.synced
  const { doc, provider } = client
  const paragraph = new Y.XmlElement('paragraph')
  const text = new Y.XmlText()
  doc.transact(() => {
    doc.getXmlFragment('body').insert(0, [paragraph])
    paragraph.insert(0, [text])
  })
  let release: (() => void) | undefined
  provider.on('unsyncedChanges', () => {
    if (release && provider.unsyncedChanges < WINDOW) {
      const r = release
      release = undefined
      r()
    }
  })
  const tenth = Math.ceil(patches.length / 10)
  const tenths: number[] = []
  const started = performance.now()
  const cpuStarted = server.cpu()
  let cpuMark = cpuStarted
  for (let i = 0; i < patches.length; i++) {
    if (provider.unsyncedChanges >= WINDOW) await new Promise<void>((r) => (release = r))
    const [position, deleted, inserted] = patches[i]
    doc.transact(() => {
      if (deleted > 0) text.delete(position, deleted)
      if (inserted.length > 0) text.insert(position, inserted)
    })
    if ((i + 1) % tenth === 0 || i + 1 === patches.length) {
      const cpu = server.cpu()
      tenths.push(cpu - cpuMark)
      cpuMark = cpu
    }
  }
  await client.acknowledged(600_000)
  const seconds = (performance.now() - started) / 1000
  const cpuSeconds = server.cpu() - cpuStarted
  if (FRACTION === 1 && text.toString() !== trace.endContent) throw new Error('the replayed text differs from the trace end content')
  return { seconds, cpuSeconds, tenths, close: () => client.destroy() }
}

const storedBytes = (dir: string): number => readdirSync(dir).reduce((sum, f) => sum + statSync(join(dir, f)).size, 0)

/** Milliseconds from connecting a fresh client until it is synced, and the text length it got. */
async function coldLoad(server: Running, token: string, name: string): Promise<{ ms: number; length: number; state: Uint8Array }> {
  const started = performance.now()
  const client = connect(`ws://127.0.0.1:${server.port}`, name, token)
  await client.synced
  const ms = performance.now() - started
  const body = client.doc.getXmlFragment('body')
  const paragraph = body.get(0) as Y.XmlElement
  const length = (paragraph.get(0) as Y.XmlText).length
  const state = Y.encodeStateAsUpdate(client.doc)
  client.destroy()
  return { ms, length, state }
}

/** One opening of an empty document: on bare Hocuspocus, the round trip a load cannot avoid. */
async function emptyOpen(server: Running, token: string, name: string): Promise<number> {
  const started = performance.now()
  const client = connect(`ws://127.0.0.1:${server.port}`, name, token)
  await client.synced
  client.destroy()
  return performance.now() - started
}

function parseMs(state: Uint8Array): number {
  const times: number[] = []
  for (let i = 0; i < 5; i++) {
    const started = performance.now()
    const doc = new Y.Doc()
    Y.applyUpdate(doc, state)
    times.push(performance.now() - started)
    doc.destroy()
  }
  return median(times)
}

const token = await mintToken(teacher())
const us = (s: number) => (s * 1e6) / patches.length
const rows: Array<{ bare: Replayed; homeroom: Replayed; stored: number; cold: number; parse: number; open: number }> = []
console.log(`B4 replay: ${patches.length} keystrokes, window ${WINDOW}, ${ROUNDS} rounds, ${pinned ? `client on CPU ${CLIENT_CPU}, servers on CPU ${SERVER_CPU}` : 'not pinned (no taskset)'}`)
for (let round = 0; round < ROUNDS; round++) {
  const name = `s1/doc/b4-${round}`
  const bareServer = await startServer('bare', '.')
  const bare = await replayTrace(bareServer, token, name)
  bare.close()
  const opens: number[] = []
  for (let i = 0; i < 5; i++) opens.push(await emptyOpen(bareServer, token, `s1/doc/empty-${round}-${i}`))
  await bareServer.stop()

  const dataDir = mkdtempSync(join(tmpdir(), 'bench-trace-'))
  try {
    let server = await startServer('homeroom', dataDir)
    const homeroom = await replayTrace(server, token, name)
    // History older than a minute is merged per user and second when the document is next
    // stored: the typist stays a minute, then leaves (the document's last store merges it).
    await new Promise((r) => setTimeout(r, MERGE_WAIT_MS))
    homeroom.close()
    await new Promise((r) => setTimeout(r, 3000))
    await server.stop()
    const stored = storedBytes(dataDir)
    server = await startServer('homeroom', dataDir)
    // The process is fresh, not the document: one opening of another document first, so the
    // figure is the document's load, not the first connection's compilation.
    await emptyOpen(server, token, `s1/doc/warm-${round}`)
    const cold = await coldLoad(server, token, name)
    await server.stop()
    const expected = FRACTION === 1 ? trace.endContent.length : undefined
    if (expected !== undefined && cold.length !== expected) throw new Error(`cold load has ${cold.length} characters, expected ${expected}`)
    const parse = parseMs(cold.state)
    rows.push({ bare, homeroom, stored, cold: cold.ms, parse, open: median(opens) })
    console.log(
      `round ${round + 1}: bare ${(patches.length / bare.seconds).toFixed(0)}/s ${us(bare.cpuSeconds).toFixed(0)} µs · homeroom ${(patches.length / homeroom.seconds).toFixed(0)}/s ${us(homeroom.cpuSeconds).toFixed(0)} µs · stored ${(stored / 1e6).toFixed(2)} MB · cold ${cold.ms.toFixed(0)} ms (parse ${parse.toFixed(1)} ms, empty open ${median(opens).toFixed(1)} ms)`,
    )
  } finally {
    rmSync(dataDir, { recursive: true, force: true })
  }
}

const m = (f: (r: (typeof rows)[number]) => number) => median(rows.map(f))
console.log('\nmedians:')
console.log(`  throughput     bare ${m((r) => patches.length / r.bare.seconds).toFixed(0)}/s, homeroom ${m((r) => patches.length / r.homeroom.seconds).toFixed(0)}/s, ratio ${m((r) => r.bare.seconds / r.homeroom.seconds).toFixed(2)}x (goal >= 0.8)`)
console.log(`  CPU/keystroke  bare ${m((r) => us(r.bare.cpuSeconds)).toFixed(0)} µs, homeroom ${m((r) => us(r.homeroom.cpuSeconds)).toFixed(0)} µs, ratio ${m((r) => r.homeroom.cpuSeconds / r.bare.cpuSeconds).toFixed(2)}x (goal <= 1.5)`)
const tenthUs = (tenths: number[], i: number) => (tenths[i] * 1e6) / Math.ceil(patches.length / 10)
console.log(`  per tenth (µs) bare     ${rows[0].bare.tenths.map((_, i) => m((r) => tenthUs(r.bare.tenths, i)).toFixed(0)).join(' ')}`)
console.log(`                 homeroom ${rows[0].homeroom.tenths.map((_, i) => m((r) => tenthUs(r.homeroom.tenths, i)).toFixed(0)).join(' ')}`)
console.log(`                 ratio    ${rows[0].homeroom.tenths.map((_, i) => m((r) => r.homeroom.tenths[i] / Math.max(r.bare.tenths[i], 0.01)).toFixed(2)).join(' ')}`)
console.log(`  stored         ${(m((r) => r.stored) / 1e6).toFixed(2)} MB (goal <= 8 MB)`)
console.log(
  `  cold load      ${m((r) => r.cold).toFixed(0)} ms; Yjs parse ${m((r) => r.parse).toFixed(1)} ms, empty open ${m((r) => r.open).toFixed(1)} ms; goal <= ${m((r) => 3 * r.parse + r.open).toFixed(0)} ms (3x parse + one open)`,
)
process.exit(0)
