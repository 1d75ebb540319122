// What the admin commands share: opening the configured store, failing with the right exit code,
// printing listings as text or JSON, and progress bars that only appear on a terminal.
import { existsSync } from 'node:fs'
import { hostname } from 'node:os'
import { join } from 'node:path'
import cliProgress from 'cli-progress'
import { NameError } from '../../docs-model/names.ts'
import { resolve } from '../../docs-model/registry.ts'
import type { DocRef, Surface } from '../../docs-model/types.ts'
import { ConfigError, ConfigErrors, loadConfig, type Config } from '../../server/config.ts'
import { liveServers, type LiveServer } from '../../server/store/heartbeat.ts'
import { openStore } from '../../server/store/open.ts'
import { SqliteStore } from '../../server/store/sqlite.ts'
import type { HeartbeatStore, Store } from '../../server/store/types.ts'
import { parseTime, TimeTravelError } from '../../server/history/time.ts'

/**
 * Where a command's input and output go: the real process, or (in tests) buffers, an environment
 * of its own and an `exit` that throws `Exit` instead of ending the process.
 */
export interface Io {
  env: Record<string, string | undefined>
  cwd: string
  stdout: { write(chunk: string | Uint8Array): unknown; isTTY?: boolean }
  stderr: { write(chunk: string): unknown; isTTY?: boolean }
  exit(code: number): never
}

/** Thrown by an in-process `Io`'s `exit`: carries the exit code out of the command. */
export class Exit extends Error {
  readonly code: number
  constructor(code: number) {
    super(`exit ${code}`)
    this.code = code
  }
}

export const processIo: Io = {
  env: process.env,
  get cwd() {
    return process.cwd()
  },
  stdout: process.stdout,
  stderr: process.stderr,
  exit: (code) => process.exit(code),
}

/** The Io of the command running now (one at a time: tests run commands one after another). */
export let io: Io = processIo

export function useIo(next: Io): void {
  io = next
}

/** The configuration from this command's environment, or exit 2 with one line per bad variable. */
export function configOrExit(defaults: Parameters<typeof loadConfig>[1] = {}): Config {
  try {
    return loadConfig(io.env, defaults)
  } catch (error) {
    if (error instanceof ConfigError) {
      const problems = error instanceof ConfigErrors ? error.problems : [error]
      for (const problem of problems) io.stderr.write(`homeroom: bad configuration: ${problem.message}\n`)
      io.exit(2)
    }
    throw error
  }
}

/** A failure the user can act on; `exitCode` 1 for a failed operation, 2 for bad usage. */
export class CliError extends Error {
  readonly exitCode: number
  constructor(message: string, exitCode = 1) {
    super(message)
    this.exitCode = exitCode
  }
}

/** Wraps a command's action: prints failures as one line prefixed with the command and exits with their code. */
export function action<A extends unknown[]>(command: string, run: (...args: A) => Promise<void>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      await run(...args)
    } catch (error) {
      if (error instanceof Exit) throw error
      const { message, exitCode } = describe(error)
      io.stderr.write(`homeroom ${command}: ${message}\n`)
      io.exit(exitCode)
    }
  }
}

function describe(error: unknown): { message: string; exitCode: number } {
  if (error instanceof CliError) return { message: error.message, exitCode: error.exitCode }
  if (error instanceof NameError) return { message: `${error.message} (names look like s1/chat/room1)`, exitCode: 2 }
  if (error instanceof TimeTravelError) return { message: error.message, exitCode: error.code === 'bad-time' ? 2 : 1 }
  return { message: (error as Error)?.message ?? String(error), exitCode: 1 }
}

/** Parses a document name against the surface declarations (bad names are bad usage). */
export function documentName(name: string): { ref: DocRef; surface: Surface } {
  return resolve(name)
}

/** A time given to `flag`; a bad one is bad usage naming the flag. */
export function timeOption(flag: string, value: string): number
export function timeOption(flag: string, value: string | undefined): number | undefined
export function timeOption(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined
  try {
    return parseTime(value)
  } catch (error) {
    throw new CliError(`${flag}: ${(error as Error).message}`, 2)
  }
}

/** A whole number of at least 1 given to `flag`. */
export function countOption(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined
  if (!/^\d{1,9}$/.test(value.trim()) || Number(value) < 1) throw new CliError(`${flag}: '${value}' is not a whole number of at least 1`, 2)
  return Number(value)
}

export type StoreMode = 'read' | 'write'

/**
 * Opens the configured store for one command and closes it afterwards. Read-only commands open
 * SQLite read-only: in WAL mode a reader never blocks the server's journal writes.
 */
export async function withStore<T>(mode: StoreMode, run: (store: Store, config: Config) => Promise<T>): Promise<T> {
  const config = configOrExit()
  let store: Store
  try {
    if (!config.databaseUrl && mode === 'read') {
      const file = join(config.dataDir, 'homeroom.db')
      if (!existsSync(file)) throw new CliError(`no store at ${file}: nothing was stored yet, or DATA_DIR points elsewhere (DATA_DIR=${config.dataDir})`)
      store = new SqliteStore(file, { readonly: true })
    } else {
      store = openStore(config)
    }
  } catch (error) {
    if (error instanceof CliError) throw error
    // A ConfigError already says `DATA_DIR: cannot open …`.
    throw new CliError(error instanceof ConfigError ? error.message : `cannot open the store: ${(error as Error).message}`)
  }
  try {
    return await run(store, config)
  } finally {
    await store.close()
  }
}

/**
 * Commands that write straight into the store refuse while a server uses it: its live documents
 * would not see the change. A running server keeps a heartbeat row in the store (see
 * server/store/heartbeat.ts), so this finds servers on any port and, with PostgreSQL, any host.
 */
export async function refuseWhileServing(store: Partial<HeartbeatStore>, what: string, force: boolean | undefined): Promise<void> {
  if (force) return
  const servers = await liveServers(store)
  if (servers.length === 0) return
  const others = servers.length > 1 ? ` and ${servers.length - 1} more` : ''
  throw new CliError(
    `a Homeroom server is running at ${serverUrl(servers[0])} (${describeServer(servers[0])}${others}; found by its heartbeat in the store); ` +
      `${what} straight into the store would not reach its live documents. ` +
      `Stop the server first, use --server ${serverUrl(servers[0])} --token <admin token> where offered, or pass --force`,
  )
}

/** The address to reach a server at from here: `localhost` only means something on its own host. */
function serverUrl(server: LiveServer): string {
  return server.host !== hostname() ? server.address.replace('//localhost:', `//${server.host}:`) : server.address
}

function describeServer(server: LiveServer): string {
  const ago = Math.max(0, Math.round((Date.now() - server.seenAt) / 1000))
  return `instance ${server.instance}, pid ${server.pid} on ${server.host}, last heartbeat ${ago} s ago`
}

export const print = (text: string): void => {
  io.stdout.write(text.endsWith('\n') ? text : `${text}\n`)
}

export const printJson = (value: unknown): void => print(JSON.stringify(value, null, 2))

/** Left-aligned columns separated by two spaces. */
export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]?.length ?? 0)))
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i])))
      .join('  ')
      .trimEnd()
  return [line(headers), ...rows.map(line)].join('\n')
}

export const shorten = (text: string, max = 100): string => (text.length > max ? `${text.slice(0, max - 1)}…` : text)

export const kib = (bytes: number): string => (bytes < 1024 ? `${bytes} B` : bytes < 1024 * 1024 ? `${(bytes / 1024).toFixed(1)} KiB` : `${(bytes / 1024 / 1024).toFixed(1)} MiB`)

export interface Progress {
  update(done: number): void
  stop(): void
}

/** A progress bar on stderr when it is a terminal; silent in pipes and files. */
export function progress(label: string, total: number): Progress {
  if (!io.stderr.isTTY || total <= 1) return { update: () => {}, stop: () => {} }
  const bar = new cliProgress.SingleBar(
    { stream: process.stderr, format: `${label} [{bar}] {value}/{total}`, hideCursor: true, clearOnComplete: true },
    cliProgress.Presets.shades_classic,
  )
  bar.start(total, 0)
  return { update: (done) => bar.update(done), stop: () => bar.stop() }
}
