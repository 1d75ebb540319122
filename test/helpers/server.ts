// Starting real Homeroom servers for tests: in this process, or as a child process that a test may kill.
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { loadConfig } from '../../server/config.ts'
import { createHomeroom, type HomeroomServer as Homeroom, type HomeroomOptions } from '../../server/app.ts'
import type { Claims } from '../../server/identity.ts'
import { mintToken, TEST_SECRET } from './tokens.ts'

export interface TestServer {
  app: Homeroom
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

export interface ServerProcess {
  child: ChildProcess
  port: number
  url: string
  http: string
  exited: Promise<number | null>
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
