// What the admin commands share: opening the configured store, failing with the right exit code,
// printing listings as text or JSON, and progress bars that only appear on a terminal.
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import cliProgress from 'cli-progress'
import { NameError } from '../../docs-model/names.ts'
import { resolve } from '../../docs-model/registry.ts'
import type { DocRef, Surface } from '../../docs-model/types.ts'
import { configOrExit, type Config } from '../../server/config.ts'
import { openStore } from '../../server/store/open.ts'
import { SqliteStore } from '../../server/store/sqlite.ts'
import type { Store } from '../../server/store/types.ts'
import { TimeTravelError } from '../../server/timetravel.ts'

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
      const { message, exitCode } = describe(error)
      process.stderr.write(`homeroom ${command}: ${message}\n`)
      process.exit(exitCode)
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
    throw new CliError(`cannot open the store: ${(error as Error).message}`)
  }
  try {
    return await run(store, config)
  } finally {
    await store.close()
  }
}

/**
 * The address of a Homeroom answering on the configured port of this host, if any. Commands that
 * write straight into the store refuse while one runs: its live documents would not see the change.
 */
export async function runningServer(config: Config): Promise<string | undefined> {
  if (config.port === 0) return undefined
  const host = config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${config.port}`
  try {
    const response = await fetch(`${url}/health`, { signal: AbortSignal.timeout(500) })
    const body = (await response.json()) as { status?: string; store?: string }
    return body.status === 'ok' && typeof body.store === 'string' ? url : undefined
  } catch {
    return undefined
  }
}

export async function refuseWhileServing(config: Config, what: string, force: boolean | undefined): Promise<void> {
  if (force) return
  const url = await runningServer(config)
  if (url) {
    throw new CliError(
      `a Homeroom server is running at ${url}; ${what} straight into the store would not reach its live documents. ` +
        `Stop the server first, use --server ${url} --token <admin token> where offered, or pass --force`,
    )
  }
}

export const print = (text: string): void => {
  process.stdout.write(text.endsWith('\n') ? text : `${text}\n`)
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
  if (!process.stderr.isTTY || total <= 1) return { update: () => {}, stop: () => {} }
  const bar = new cliProgress.SingleBar(
    { stream: process.stderr, format: `${label} [{bar}] {value}/{total}`, hideCursor: true, clearOnComplete: true },
    cliProgress.Presets.shades_classic,
  )
  bar.start(total, 0)
  return { update: (done) => bar.update(done), stop: () => bar.stop() }
}
