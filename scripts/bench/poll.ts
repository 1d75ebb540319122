// A poll at class-assembly scale: 1,000 students vote within 10 seconds while a teacher watches.
// Run: `taskset -c 0 npx node scripts/bench/poll.ts` (servers are pinned to core 1 by themselves).
// Per round, side by side: Homeroom (ballots journaled, guarded, tallied by the poll observer)
// and bare Hocuspocus relaying the same ballot updates. Prints the p50/p99 from a vote to the
// teacher seeing it counted, and the server's CPU per vote on each, with the ratio.
import { setTimeout as sleep } from 'node:timers/promises'
import { connect, type Client } from '../../test/helpers/clients.ts'
import { mintToken, student, teacher } from '../../test/helpers/tokens.ts'
import { vote } from '../../docs-model/surfaces/poll/surface.ts'
import { median, quantile, spread, startMeasured, type MeasuredServer, type ServerKind } from './servers.ts'

const ROUNDS = Number(process.env.ROUNDS ?? 3)
const STUDENTS = Number(process.env.STUDENTS ?? 1000)
const WINDOW_MS = Number(process.env.WINDOW_MS ?? 10_000)
const OPTIONS = ['a', 'b', 'c', 'd']
/** A vote every 10 ms is 100 a second per server: well within each student's own message rate. */
const ENV = { MAX_OPENS_PER_SEC: '100000' }

async function openAll(server: MeasuredServer, names: string[], tokens: string[]): Promise<Client[]> {
  const clients: Client[] = []
  // In slices, as a class arriving would, rather than 1,000 handshakes in one tick.
  for (let i = 0; i < names.length; i += 100) {
    const slice = names.slice(i, i + 100).map((name, j) => connect(server.url, name, tokens[i + j]))
    await Promise.all(slice.map((client) => client.synced))
    clients.push(...slice)
  }
  return clients
}

interface RoundResult {
  /** Milliseconds from each vote to the teacher seeing it counted (Homeroom only). */
  latencies: number[]
  cpuPerVoteMicros: number
}

async function round(kind: ServerKind, index: number, tokens: { teacher: string; students: string[] }): Promise<RoundResult> {
  const server = await startMeasured(kind, ENV)
  const poll = `s1/poll/bench${index}`
  const watcher = connect(server.url, poll, tokens.teacher)
  await watcher.synced
  watcher.doc.transact(() => {
    const meta = watcher.doc.getMap('meta')
    meta.set('question', 'Which one?')
    meta.set('options', OPTIONS)
    meta.set('kind', 'poll')
    meta.set('anonymous', false)
  })
  await watcher.acknowledged()
  const voters = await openAll(server, tokens.students.map((_, i) => `${poll}/ballot/u${i + 1}`), tokens.students)
  await sleep(500)

  const sentAt: number[] = []
  const latencies: number[] = []
  const tallies = watcher.doc.getMap('tallies')
  const counted = () => [...tallies.values()].reduce((sum: number, n) => sum + Number(n), 0)
  const seenAll = new Promise<void>((resolve) => {
    if (kind !== 'homeroom') return resolve()
    tallies.observe(() => {
      const now = performance.now()
      for (let seen = latencies.length, total = counted(); seen < total && seen < sentAt.length; seen++) latencies.push(now - sentAt[seen])
      if (latencies.length === STUDENTS) resolve()
    })
  })
  const before = await server.usage()
  const clientBefore = process.cpuUsage()
  const started = performance.now()
  for (let i = 0; i < voters.length; i++) {
    const due = started + (i * WINDOW_MS) / voters.length
    const wait = due - performance.now()
    if (wait > 1) await sleep(wait)
    sentAt.push(performance.now())
    vote(voters[i].doc, i % OPTIONS.length)
  }
  await Promise.all(voters.map((voter) => voter.acknowledged()))
  await seenAll
  const after = await server.usage()
  const client = process.cpuUsage(clientBefore)
  const elapsed = performance.now() - started
  // The load generator must keep up, or its own delay is what gets measured.
  console.log(`  ${kind}: load generator busy ${((client.user + client.system) / 10 / elapsed).toFixed(0)} % of its core over ${(elapsed / 1000).toFixed(1)} s`)
  for (const client of [watcher, ...voters]) client.destroy()
  await server.stop()
  return { latencies, cpuPerVoteMicros: (after.cpuMicros - before.cpuMicros) / STUDENTS }
}

const tokens = {
  teacher: await mintToken(teacher('t1', { classes: ['7a'] })),
  students: await Promise.all(Array.from({ length: STUDENTS }, (_, i) => mintToken(student(`u${i + 1}`, { classes: ['7a'] })))),
}
const p50s: number[] = []
const p99s: number[] = []
const cpuRatios: number[] = []
const cpuHomeroom: number[] = []
const cpuBare: number[] = []
for (let r = 0; r < ROUNDS; r++) {
  const homeroom = await round('homeroom', r, tokens)
  const bare = await round('bare', r, tokens)
  const p50 = quantile(homeroom.latencies, 0.5)
  const p99 = quantile(homeroom.latencies, 0.99)
  p50s.push(p50)
  p99s.push(p99)
  cpuHomeroom.push(homeroom.cpuPerVoteMicros)
  cpuBare.push(bare.cpuPerVoteMicros)
  cpuRatios.push(homeroom.cpuPerVoteMicros / bare.cpuPerVoteMicros)
  console.log(
    `round ${r + 1}: vote → tally seen p50 ${p50.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms; ` +
      `server CPU per vote ${homeroom.cpuPerVoteMicros.toFixed(0)} µs vs bare relay ${bare.cpuPerVoteMicros.toFixed(0)} µs (${(homeroom.cpuPerVoteMicros / bare.cpuPerVoteMicros).toFixed(2)}×)`,
  )
}
console.log(`\n${STUDENTS} votes in ${WINDOW_MS / 1000} s, medians of ${ROUNDS} rounds:`)
console.log(`vote → tally seen by the teacher: p50 ${median(p50s).toFixed(1)} ms, p99 ${median(p99s).toFixed(1)} ms (p99 over rounds ${spread(p99s, 1)})`)
console.log(`server CPU per vote: Homeroom ${median(cpuHomeroom).toFixed(0)} µs, bare relay ${median(cpuBare).toFixed(0)} µs: ${median(cpuRatios).toFixed(2)}× (rounds ${spread(cpuRatios)})`)
process.exit(0)
