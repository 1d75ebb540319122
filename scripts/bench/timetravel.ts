// Time-travel benchmark: one document with ENTRIES journal entries (default 100,000) and a
// snapshot every SNAPSHOT_EVERY entries, as a running server writes them; then measures the state
// at random past times in-process, `homeroom docs show --at` end to end, and, for comparison, a
// replay of the whole journal without snapshots (entry by entry).
//   node scripts/bench/timetravel.ts [entries]
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as Y from 'yjs'
import { SqliteStore } from '../../server/store/sqlite.ts'
import { compact } from '../../server/history/prune.ts'
import { stateAt } from '../../server/history/replay.ts'

const ENTRIES = Number(process.argv[2] ?? 100_000)
const SNAPSHOT_EVERY = 500
const NAME = 's1/board/bench'
const START = Date.parse('2026-01-05T08:00:00Z')
const STEP_MS = 25

const dataDir = mkdtempSync(join(tmpdir(), 'homeroom-bench-'))
const store = new SqliteStore(join(dataDir, 'homeroom.db'))

// A whiteboard in use: elements drawn, moved and erased by 30 users, the title now and then.
const author = new Y.Doc()
let pending: Uint8Array | undefined
author.on('update', (update: Uint8Array) => (pending = update))
const elements = author.getMap('elements')
let seed = 42
const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31)

const filled = performance.now()
for (let i = 1; i <= ENTRIES; i++) {
  const user = `u${Math.floor(random() * 30)}`
  const key = `${user}:e${Math.floor(random() * 40)}`
  const roll = random()
  if (roll < 0.1) author.getMap('meta').set('title', `Board ${i}`)
  else if (roll < 0.2 && elements.has(key)) elements.delete(key)
  else elements.set(key, { kind: 'rect', x: Math.round(random() * 1000), y: Math.round(random() * 1000), w: 40, h: 30, color: '#336699', z: i })
  store.appendSync(NAME, { at: START + i * STEP_MS, user, origin: 'client', update: pending! })
  if (i % SNAPSHOT_EVERY === 0) await compact(store, NAME, SNAPSHOT_EVERY)
}
const fillSeconds = (performance.now() - filled) / 1000

const times = Array.from({ length: 50 }, () => START + Math.floor(random() * ENTRIES) * STEP_MS)
const durations: number[] = []
for (const at of times) {
  const started = performance.now()
  const doc = await stateAt(store, NAME, at)
  durations.push(performance.now() - started)
  doc.destroy()
}
durations.sort((a, b) => a - b)

const fullStarted = performance.now()
const all = await store.entriesAfter(NAME, 0)
const full = new Y.Doc()
for (const entry of all) Y.applyUpdate(full, entry.update)
const fullMs = performance.now() - fullStarted
await store.close()

const at = new Date(START + Math.floor(ENTRIES * 0.37) * STEP_MS).toISOString()
const cliStarted = performance.now()
const cli = spawnSync(process.execPath, ['--disable-warning=ExperimentalWarning', 'scripts/homeroom.ts', 'docs', 'show', NAME, '--at', at], {
  env: { ...process.env, DATA_DIR: dataDir, JWT_SECRET: 'bench-secret-0123456789abcdef', PORT: '0' },
  encoding: 'utf8',
})
const cliMs = performance.now() - cliStarted
if (cli.status !== 0) throw new Error(`docs show failed: ${cli.stderr}`)
const helpStarted = performance.now()
spawnSync(process.execPath, ['--disable-warning=ExperimentalWarning', 'scripts/homeroom.ts', '--help'])
const helpMs = performance.now() - helpStarted
rmSync(dataDir, { recursive: true, force: true })

const ms = (n: number) => `${n.toFixed(1)} ms`
console.log(`journal: ${ENTRIES} entries of ${NAME}, snapshot every ${SNAPSHOT_EVERY} (filled in ${fillSeconds.toFixed(1)} s)`)
console.log(`state at a random past time, in-process (50 times): median ${ms(durations[25])}, max ${ms(durations.at(-1)!)}`)
console.log(`homeroom docs show --at ${at}: ${ms(cliMs)} wall clock, of which loading the command line takes ${ms(helpMs)} (\`homeroom --help\`)`)
console.log(`for comparison, replaying all ${ENTRIES} entries without snapshots: ${ms(fullMs)}`)
