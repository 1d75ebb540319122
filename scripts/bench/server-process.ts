// One server under measurement, in a process of its own (spawned pinned by `servers.ts`):
// `homeroom` (the real thing, SQLite in a temporary directory), `bare` (Hocuspocus with no
// extension: the relay Homeroom is built on) or `socketio` (a Socket.IO room relay: each event
// goes to the other members of its room). It prints `{"port": n}` once listening and answers
// IPC requests: `usage` → CPU microseconds and memory after a full GC, `cpu` → CPU microseconds
// alone (no collection of its own to count in the next interval), `stop` → exits.
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Server as Hocuspocus } from '@hocuspocus/server'
import { Server as SocketIO } from 'socket.io'
import { createHomeroom } from '../../server/app.ts'
import { loadConfig } from '../../server/config.ts'
import { TEST_SECRET } from '../../test/helpers/tokens.ts'

export type ServerKind = 'homeroom' | 'bare' | 'socketio'

export interface Usage {
  cpuMicros: number
  heapBytes: number
  rssBytes: number
  externalBytes: number
}

const kind = process.argv[2] as ServerKind
/** Extra environment for Homeroom, as JSON (`{"MAX_MESSAGES_PER_SEC": "1000"}`). */
const env = JSON.parse(process.argv[3] ?? '{}') as Record<string, string>

async function start(): Promise<{ port: number; stop: () => Promise<void> }> {
  if (kind === 'homeroom') {
    const dir = mkdtempSync(join(tmpdir(), 'bench-homeroom-'))
    const app = createHomeroom(loadConfig({ PORT: '0', HOST: '127.0.0.1', DATA_DIR: dir, JWT_SECRET: TEST_SECRET, LOG_LEVEL: 'silent', ...env }))
    const { port } = await app.start()
    return { port, stop: async () => { await app.stop(); rmSync(dir, { recursive: true, force: true }) } }
  }
  if (kind === 'bare') {
    const server = new Hocuspocus({ port: 0, address: '127.0.0.1', quiet: true, stopOnSignals: false })
    await server.listen()
    return { port: server.address.port, stop: () => server.destroy() }
  }
  const http = createServer()
  const io = new SocketIO(http, { serveClient: false, maxHttpBufferSize: 2 * 1024 * 1024 })
  io.on('connection', (socket) => {
    socket.on('join', (room: string, joined?: () => void) => {
      void socket.join(room)
      joined?.()
    })
    socket.on('relay', (room: string, payload: unknown) => socket.to(room).emit('relay', room, payload))
  })
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve))
  const address = http.address()
  return { port: typeof address === 'object' && address ? address.port : 0, stop: () => new Promise((resolve) => io.close(() => resolve())) }
}

const { port, stop } = await start()
process.stdout.write(`${JSON.stringify({ port })}\n`)
process.on('message', async (message: { id: number; op: 'usage' | 'cpu' | 'stop' }) => {
  if (message.op === 'cpu') {
    const cpu = process.cpuUsage()
    process.send!({ id: message.id, cpuMicros: cpu.user + cpu.system })
  } else if (message.op === 'usage') {
    // CPU first: the collection made for the memory figure is not the workload's.
    const cpu = process.cpuUsage()
    globalThis.gc?.()
    const memory = process.memoryUsage()
    const usage: Usage = { cpuMicros: cpu.user + cpu.system, heapBytes: memory.heapUsed, rssBytes: memory.rss, externalBytes: memory.external + memory.arrayBuffers }
    process.send!({ id: message.id, usage })
  } else {
    await stop()
    process.send!({ id: message.id })
    process.exit(0)
  }
})
