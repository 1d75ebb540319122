// Contributions benchmark: a rich-text document with ENTRIES journal entries (default 100,000)
// typed by 30 users under client ids of their own, a snapshot every 500 entries as a running
// server writes them; then times `contributions` cold (the journal read once, the state replayed
// or the loaded document) and warm, and checks its per-user counts against the session's own.
//   node scripts/bench/contributions.ts [entries]      (BENCH_DIR=<dir> keeps the store there)
import { mkdtempSync, rmSync } from 'node:fs'
import { availableParallelism, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { SqliteStore } from '../../server/store/sqlite.ts'
import * as Y from 'yjs'
import { contributions } from '../../server/history/contributions.ts'
import { EditingSession } from '../../test/helpers/editing-session.ts'

const ENTRIES = Number(process.argv[2] ?? 100_000)
const SNAPSHOT_EVERY = 500
const NAME = 's1/doc/bench'
const START = Date.parse('2026-01-05T08:00:00Z')
const SEED = 'contributions-bench'

const dataDir = process.env.BENCH_DIR ?? mkdtempSync(join(tmpdir(), 'homeroom-bench-'))
const store = new SqliteStore(join(dataDir, 'homeroom.db'))
const users = Array.from({ length: 30 }, (_, i) => `u${i}`)
const session = new EditingSession(SEED, users)
for (const user of users) await store.claimClients(NAME, [session.clients.get(user)!], user)

const filled = performance.now()
for (let i = 1; i <= ENTRIES; i++) {
  const step = session.step()
  const at = START + i * 20
  const seq = store.appendSync(NAME, { at, user: step.user, origin: 'client', update: step.update })
  // The snapshot a running server writes every 500 entries (the session's state is the replay's).
  if (i % SNAPSHOT_EVERY === 0) await store.writeSnapshot({ doc: NAME, seq, at, state: Y.encodeStateAsUpdate(session.doc) })
}
console.log(`seed ${SEED}: ${ENTRIES} entries written in ${((performance.now() - filled) / 1000).toFixed(1)} s`)

// Cold: a store opened afresh (nothing cached); warm: the same store asked again, as a panel refreshing.
const file = join(dataDir, 'homeroom.db')
const runs = { replayed: [] as number[], loaded: [] as number[], warm: [] as number[] }
let result
for (let run = 0; run < 3; run++) {
  for (const kind of ['replayed', 'loaded'] as const) {
    const fresh = new SqliteStore(file, { readonly: true })
    const t0 = performance.now()
    result = await contributions(fresh, NAME, undefined, kind === 'loaded' ? session.doc : undefined)
    runs[kind].push(performance.now() - t0)
    if (kind === 'loaded') {
      const t1 = performance.now()
      await contributions(fresh, NAME, undefined, session.doc)
      runs.warm.push(performance.now() - t1)
    }
    await fresh.close()
  }
}
const wrong = users.filter((user) => {
  const known = session.counts.get(user)!
  const row = result!.users.find((r) => r.user === user)
  return !row || row.inserted !== known.inserted || row.deleted !== known.deleted || row.present !== known.present
})
const ms = (list: number[]) => list.map((t) => `${t.toFixed(0)} ms`).join(', ')
console.log(`contributions of ${ENTRIES} entries (${((await store.countAfter(NAME, 0)) / 1000).toFixed(0)}k stored):`)
console.log(`  cold, state replayed (the command line, ?at=): ${ms(runs.replayed)}`)
console.log(`  cold, document loaded (HTTP, first request):  ${ms(runs.loaded)}`)
console.log(`  warm, document loaded (HTTP, refreshed):       ${ms(runs.warm)}`)
console.log(`load average ${loadavg().map((l) => l.toFixed(1)).join(' ')} on ${availableParallelism()} cores`)
console.log(wrong.length === 0 ? 'per-user counts match the session' : `counts differ for ${wrong.join(', ')}`)
store.close()
if (!process.env.BENCH_DIR) rmSync(dataDir, { recursive: true, force: true })
if (wrong.length > 0) process.exitCode = 1
