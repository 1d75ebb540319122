// A school day on one instance: CLASSES classes of 30 students, each class with a document being
// typed into, a chat, a poll round, presence, and a teacher watching (see `schoolday-load.ts`).
// Run: `taskset -c 0 npx node scripts/bench/schoolday.ts` (the server is pinned to core 1 by
// itself; the users come from LOAD_PROCESSES load generators on LOAD_CPUS). Per round, side by
// side with the same traffic: Homeroom, bare Hocuspocus, and a Socket.IO room relay. Prints the
// server's CPU per active user, the p50/p99 fan-out latency (send → seen by the teacher) and the
// server's memory, with Homeroom's ratios to each baseline.
import { fileURLToPath } from 'node:url'
import type { ChildProcess } from 'node:child_process'
import { LOAD_CPUS, median, quantile, spawnPinned, spread, startMeasured, type ServerKind, type Usage } from './servers.ts'

const ROUNDS = Number(process.env.ROUNDS ?? 3)
const CLASSES = Number(process.env.CLASSES ?? 100)
const LOAD_PROCESSES = Number(process.env.LOAD_PROCESSES ?? 2)
const SECONDS = Number(process.env.SECONDS ?? 30)
const loadEntry = fileURLToPath(new URL('./schoolday-load.ts', import.meta.url))

interface Result {
  cpuPerUserSecondMicros: number
  p50: number
  p99: number
  memoryBytes: number
  rssBytes: number
  users: number
}

const nextMessage = <T>(child: ChildProcess): Promise<T> =>
  new Promise((resolve, reject) => {
    const onExit = (code: number | null) => reject(new Error(`load generator exited with ${code}`))
    child.once('exit', onExit)
    child.once('message', (message: T) => {
      child.off('exit', onExit)
      resolve(message)
    })
  })

async function run(kind: ServerKind): Promise<Result> {
  const server = await startMeasured(kind, { MAX_OPENS_PER_SEC: '100000' })
  const idle = await server.usage()
  const share = Math.ceil(CLASSES / LOAD_PROCESSES)
  const transport = kind === 'socketio' ? 'socketio' : 'hocuspocus'
  const loads = Array.from({ length: LOAD_PROCESSES }, (_, i) => [i * share, Math.max(0, Math.min(share, CLASSES - i * share))])
    .filter(([, count]) => count > 0)
    .map(([first, count]) => spawnPinned(LOAD_CPUS, loadEntry, [transport, server.url, String(first), String(count), String(SECONDS)], 'inherit'))
  await Promise.all(loads.map((child) => nextMessage(child)))
  const before = await server.usage()
  const results = loads.map((child) => nextMessage<{ latencies: number[]; users: number }>(child))
  for (const child of loads) child.send({ go: true })
  const done = await Promise.all(results)
  const after = await server.usage()
  for (const child of loads) child.send({ stop: true })
  await Promise.all(loads.map((child) => new Promise((resolve) => child.once('exit', resolve))))
  await server.stop()
  const latencies = done.flatMap((d) => d.latencies)
  const users = done.reduce((sum, d) => sum + d.users, 0)
  const memory = (u: Usage) => u.heapBytes + u.externalBytes
  return {
    cpuPerUserSecondMicros: (after.cpuMicros - before.cpuMicros) / users / SECONDS,
    p50: quantile(latencies, 0.5),
    p99: quantile(latencies, 0.99),
    memoryBytes: memory(before) - memory(idle),
    rssBytes: before.rssBytes - idle.rssBytes,
    users,
  }
}

const kinds: ServerKind[] = ['homeroom', 'bare', 'socketio']
const all = new Map<ServerKind, Result[]>(kinds.map((k) => [k, []]))
const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(0)} MB`
for (let r = 0; r < ROUNDS; r++) {
  for (const kind of kinds) {
    const result = await run(kind)
    all.get(kind)!.push(result)
    console.log(
      `round ${r + 1} ${kind.padEnd(8)}: CPU ${result.cpuPerUserSecondMicros.toFixed(0)} µs per active user-second; ` +
        `fan-out p50 ${result.p50.toFixed(1)} ms, p99 ${result.p99.toFixed(1)} ms; memory ${mb(result.memoryBytes)} (RSS ${mb(result.rssBytes)}) for ${result.users} users`,
    )
  }
}
const pick = (kind: ServerKind, figure: keyof Result) => all.get(kind)!.map((result) => result[figure])
const ratio = (kind: ServerKind, figure: keyof Result) => all.get('homeroom')!.map((result, i) => result[figure] / all.get(kind)![i][figure])
console.log(`\n${CLASSES} classes × 30 students for ${SECONDS} s, medians of ${ROUNDS} rounds:`)
for (const kind of kinds) {
  console.log(
    `${kind.padEnd(8)}: CPU ${median(pick(kind, 'cpuPerUserSecondMicros')).toFixed(0)} µs per active user-second, fan-out p50 ${median(pick(kind, 'p50')).toFixed(1)} ms, p99 ${median(pick(kind, 'p99')).toFixed(1)} ms, memory ${mb(median(pick(kind, 'memoryBytes')))}`,
  )
}
for (const kind of ['bare', 'socketio'] as const) {
  console.log(
    `Homeroom ÷ ${kind}: CPU ${median(ratio(kind, 'cpuPerUserSecondMicros')).toFixed(2)}× (rounds ${spread(ratio(kind, 'cpuPerUserSecondMicros'))}), ` +
      `p50 ${median(ratio(kind, 'p50')).toFixed(2)}×, p99 ${median(ratio(kind, 'p99')).toFixed(2)}×, memory ${median(ratio(kind, 'memoryBytes')).toFixed(2)}×`,
  )
}
process.exit(0)
