// Idle connections on one instance: 10,000 authenticated connections over 1,000 documents.
// Run: `taskset -c 0 npx node scripts/bench/connections.ts` (the server is pinned to core 1 by
// itself; the clients come from `CLIENT_PROCESSES` load-generator processes on `LOAD_CPUS`, each
// under its own file-descriptor limit). Per round, side by side: Homeroom and bare Hocuspocus,
// memory per connection (heap plus buffers after a full GC, and RSS) and the ratio.
import { fileURLToPath } from 'node:url'
import { ipc, LOAD_CPUS, median, spawnPinned, spread, startMeasured, type ServerKind, type Usage } from './servers.ts'

const ROUNDS = Number(process.env.ROUNDS ?? 3)
const CONNECTIONS = Number(process.env.CONNECTIONS ?? 10_000)
const DOCS = Number(process.env.DOCS ?? 1000)
const CLIENT_PROCESSES = Number(process.env.CLIENT_PROCESSES ?? 4)
const clientsEntry = fileURLToPath(new URL('./idle-clients.ts', import.meta.url))

const memoryOf = (usage: Usage) => usage.heapBytes + usage.externalBytes

async function round(kind: ServerKind): Promise<{ perConnection: number; rssPerConnection: number }> {
  const server = await startMeasured(kind, { MAX_OPENS_PER_SEC: '100000' })
  const before = await server.usage()
  const share = Math.ceil(CONNECTIONS / CLIENT_PROCESSES)
  const children = Array.from({ length: CLIENT_PROCESSES }, (_, i) =>
    spawnPinned(LOAD_CPUS, clientsEntry, [server.url, String(i * share), String(Math.min(share, CONNECTIONS - i * share)), String(DOCS)], 'inherit'),
  )
  await Promise.all(children.map((child) => new Promise<void>((resolve, reject) => {
    child.once('message', () => resolve())
    child.once('exit', (code) => reject(new Error(`load generator exited with ${code}`)))
  })))
  // Let connection set-up garbage go before measuring.
  await new Promise((resolve) => setTimeout(resolve, 2000))
  const after = await server.usage()
  for (const child of children) {
    child.removeAllListeners('exit')
    void ipc(child)({ op: 'stop' })
  }
  await Promise.all(children.map((child) => new Promise((resolve) => child.once('exit', resolve))))
  await server.stop()
  return { perConnection: (memoryOf(after) - memoryOf(before)) / CONNECTIONS, rssPerConnection: (after.rssBytes - before.rssBytes) / CONNECTIONS }
}

const kb = (bytes: number) => `${(bytes / 1024).toFixed(1)} KiB`
const ratios: number[] = []
const rssRatios: number[] = []
const homeroomBytes: number[] = []
const bareBytes: number[] = []
for (let r = 0; r < ROUNDS; r++) {
  const homeroom = await round('homeroom')
  const bare = await round('bare')
  ratios.push(homeroom.perConnection / bare.perConnection)
  rssRatios.push(homeroom.rssPerConnection / bare.rssPerConnection)
  homeroomBytes.push(homeroom.perConnection)
  bareBytes.push(bare.perConnection)
  console.log(
    `round ${r + 1}: per connection Homeroom ${kb(homeroom.perConnection)} (RSS ${kb(homeroom.rssPerConnection)}), ` +
      `bare Hocuspocus ${kb(bare.perConnection)} (RSS ${kb(bare.rssPerConnection)}): ${(homeroom.perConnection / bare.perConnection).toFixed(2)}×`,
  )
}
console.log(`\n${CONNECTIONS} idle authenticated connections over ${DOCS} documents, medians of ${ROUNDS} rounds:`)
console.log(`memory per connection (heap + buffers): Homeroom ${kb(median(homeroomBytes))}, bare ${kb(median(bareBytes))}: ${median(ratios).toFixed(2)}× (rounds ${spread(ratios)}); RSS ${median(rssRatios).toFixed(2)}×`)
process.exit(0)
