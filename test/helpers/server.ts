// Starting real Homeroom servers for tests: in this process, or as a child process that a test may kill.
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { test, type Test } from 'uvu'
import { loadConfig } from '../../server/config.ts'
import { createHomeroom, type HomeroomServer, type HomeroomOptions } from '../../server/app.ts'
import type { Claims } from '../../server/identity.ts'
import { mintToken, TEST_SECRET } from './tokens.ts'
import { closeClients } from './clients.ts'

export interface TestServer {
  app: HomeroomServer
  port: number
  url: string
  http: string
  dataDir: string
  token(claims: Claims): Promise<string>
  stop(): Promise<void>
}

export const tempDir = (): string => mkdtempSync(join(tmpdir(), 'homeroom-test-'))

export function testEnv(dataDir: string, env: Record<string, string> = {}): Record<string, string> {
  return { PORT: '0', HOST: '127.0.0.1', DATA_DIR: dataDir, JWT_SECRET: TEST_SECRET, LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent', ...env }
}

export async function startServer(env: Record<string, string> = {}, options: HomeroomOptions & { dataDir?: string } = {}): Promise<TestServer> {
  const dataDir = options.dataDir ?? tempDir()
  const app = createHomeroom(loadConfig(testEnv(dataDir, env)), options)
  const { port } = await app.start()
  return {
    app,
    port,
    url: `ws://127.0.0.1:${port}`,
    http: `http://127.0.0.1:${port}`,
    dataDir,
    token: (claims) => mintToken(claims),
    async stop() {
      await app.stop()
      if (!options.dataDir) rmSync(dataDir, { recursive: true, force: true })
    },
  }
}

export interface ServerFixture extends TestServer {
  /** Stops the server and starts it again on the same data directory, as a restart of the process would. */
  restart(): Promise<void>
}

/**
 * One server for a whole suite: started before its first test on a data directory of its own,
 * stopped (clients closed, directory removed) after its last. `env` and `options` may be
 * functions, called at every start (a store on the fixture's directory, a webhook URL known only
 * then). The returned object forwards to the running server, so it serves as a `TestServer` in
 * tests and helpers, and survives `restart()`.
 */
export function useServer(
  env: Record<string, string> | (() => Record<string, string>) = {},
  options: HomeroomOptions | ((dataDir: string) => HomeroomOptions | Promise<HomeroomOptions>) = {},
  suite: Test = test,
): ServerFixture {
  let current: TestServer | undefined
  let dataDir: string | undefined
  const running = (): TestServer => {
    if (!current) throw new Error('the server fixture is not running (used outside the suite?)')
    return current
  }
  const start = async () => {
    dataDir ??= tempDir()
    const given = typeof options === 'function' ? await options(dataDir) : options
    current = await startServer(typeof env === 'function' ? env() : env, { ...given, dataDir })
  }
  suite.before(start)
  suite.after(async () => {
    closeClients()
    await current?.stop()
    current = undefined
    if (dataDir) rmSync(dataDir, { recursive: true, force: true })
  })
  return {
    get app() { return running().app },
    get port() { return running().port },
    get url() { return running().url },
    get http() { return running().http },
    get dataDir() {
      if (!dataDir) throw new Error('the server fixture has not started yet')
      return dataDir
    },
    token: (claims) => mintToken(claims),
    stop: async () => {
      await current?.stop()
      current = undefined
    },
    async restart() {
      await current?.stop()
      await start()
    },
  }
}

export interface ServerProcess {
  child: ChildProcess
  port: number
  url: string
  http: string
  exited: Promise<number | null>
}

/**
 * Runs `homeroom serve` with exactly this environment until it exits (killed after `timeoutMs`):
 * for configurations that must fail. Asynchronous, so that several can run at once.
 */
export function serveUntilExit(env: Record<string, string>, timeoutMs = 20_000): Promise<{ status: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['scripts/homeroom.ts', 'serve'], { env, stdio: ['ignore', 'ignore', 'pipe'], timeout: timeoutMs })
    let stderr = ''
    child.stderr!.on('data', (d) => (stderr += d))
    child.once('close', (status) => resolve({ status, stderr }))
  })
}

/** Runs `homeroom serve` in a child process and resolves once it listens. */
export async function startServerProcess(dataDir: string, env: Record<string, string> = {}): Promise<ServerProcess> {
  const child = spawn(process.execPath, ['scripts/homeroom.ts', 'serve'], {
    env: { ...process.env, ...testEnv(dataDir, { ...env, LOG_LEVEL: 'info' }) }, // the port is read from the log
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  const port = await new Promise<number>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! })
    lines.on('line', (line) => {
      try {
        const entry = JSON.parse(line)
        if (typeof entry.port === 'number') resolve(entry.port)
      } catch {
        // not a log line
      }
    })
    exited.then((code) => reject(new Error(`server exited with ${code} before listening`)))
  })
  return { child, port, url: `ws://127.0.0.1:${port}`, http: `http://127.0.0.1:${port}`, exited }
}
