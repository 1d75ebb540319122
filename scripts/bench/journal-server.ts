// One server for a benchmark's side-by-side runs, in a process of its own so the benchmark can
// pin it (taskset) and read its CPU time: `node scripts/bench/journal-server.ts bare|homeroom <dataDir>`.
// Prints `{"port":N}` once it listens; SIGTERM stops it gracefully (Homeroom snapshots first).
import { Server } from '@hocuspocus/server'
import { loadConfig } from '../../server/config.ts'
import { createHomeroom } from '../../server/app.ts'
import { TEST_SECRET } from '../../test/helpers/tokens.ts'

const [mode, dataDir] = process.argv.slice(2)
if ((mode !== 'bare' && mode !== 'homeroom') || !dataDir) throw new Error('usage: journal-server.ts bare|homeroom <dataDir>')

let stop: () => Promise<unknown>
if (mode === 'bare') {
  const bare = new Server({ port: 0, address: '127.0.0.1', quiet: true, stopOnSignals: false })
  await bare.listen()
  stop = () => bare.destroy()
  console.log(JSON.stringify({ port: bare.address.port }))
} else {
  const env = {
    PORT: '0',
    HOST: '127.0.0.1',
    DATA_DIR: dataDir,
    JWT_SECRET: TEST_SECRET,
    LOG_LEVEL: 'silent',
    MAX_MESSAGES_PER_SEC: '100000',
    ...Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith('BENCH_ENV_')).map(([k, v]) => [k.slice('BENCH_ENV_'.length), v!])),
  }
  const homeroom = createHomeroom(loadConfig(env))
  const { port } = await homeroom.start()
  stop = () => homeroom.stop()
  console.log(JSON.stringify({ port }))
}
process.once('SIGTERM', () => void stop().then(() => process.exit(0)))
