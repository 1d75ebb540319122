// Running the `homeroom` command line the way an admin runs it: in this process (fast: the program
// gets an environment, a working directory and output buffers of its own, and `exit` ends only the
// command), or as a child process; test/cli.test.ts keeps two of those (`--version`, `serve`).
import { spawn } from 'node:child_process'
import { Exit, type Io } from '../../scripts/cli/common.ts'
import { main } from '../../scripts/cli/program.ts'
import { testEnv } from './server.ts'

export interface CliResult {
  code: number | null
  stdout: string
  stderr: string
  /** stdout as bytes (for `docs export` to a pipe). */
  bytes: Uint8Array
  /** stdout parsed as JSON (for `--json` and `docs show`); throws with the output when it is not JSON. */
  json(): any
}

export interface CliOptions {
  /** The working directory (where `.env` is looked for); default: this process's. */
  cwd?: string
  /** Run without the test environment (DATA_DIR, JWT_SECRET, …): only `env` and the inherited PATH. */
  bare?: boolean
  /**
   * In-process, but in this process's own `process.env` and working directory (set to the run's
   * for its duration, then restored), so `.env` is read the way the real process reads it.
   */
  own?: boolean
}

function result(args: string[], code: number | null, out: Buffer, stderr: string): CliResult {
  const stdout = out.toString('utf8')
  return {
    code,
    stdout,
    stderr,
    bytes: new Uint8Array(out),
    json() {
      try {
        return JSON.parse(stdout)
      } catch {
        throw new Error(`homeroom ${args.join(' ')} printed no JSON (exit ${code}):\n${stdout}\n${stderr}`)
      }
    },
  }
}

const environment = (dataDir: string, env: Record<string, string>, options: CliOptions): Record<string, string | undefined> =>
  options.bare ? { PATH: process.env.PATH, ...env } : { ...process.env, ...testEnv(dataDir, env) }

/** Runs `homeroom <args>` in this process against the store in `dataDir`. */
export async function runCli(dataDir: string, args: string[], env: Record<string, string> = {}, options: CliOptions = {}): Promise<CliResult> {
  const cwd = options.cwd ?? process.cwd()
  if (!options.own) return runIn(environment(dataDir, env, options), cwd, args)
  return inOwnProcess(environment(dataDir, env, options), cwd, () => runIn(process.env, process.cwd(), args))
}

async function runIn(env: Record<string, string | undefined>, cwd: string, args: string[]): Promise<CliResult> {
  const out: Buffer[] = []
  let stderr = ''
  const io: Io = {
    env,
    cwd,
    stdout: { write: (chunk) => out.push(typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.from(chunk)), isTTY: false },
    stderr: { write: (chunk) => (stderr += chunk), isTTY: false },
    exit(code) {
      throw new Exit(code)
    },
  }
  const code = await main(args, io)
  return result(args, code, Buffer.concat(out), stderr)
}

/** Runs `run` with `process.env` replaced by `env` and the working directory `cwd`; both restored after. */
async function inOwnProcess<T>(env: Record<string, string | undefined>, cwd: string, run: () => Promise<T>): Promise<T> {
  const saved = { ...process.env }
  const savedCwd = process.cwd()
  const replace = (next: Record<string, string | undefined>) => {
    for (const name of Object.keys(process.env)) delete process.env[name]
    for (const [name, value] of Object.entries(next)) if (value !== undefined) process.env[name] = value
  }
  replace(env)
  process.chdir(cwd)
  try {
    return await run()
  } finally {
    process.chdir(savedCwd)
    replace(saved)
  }
}

/** Runs `homeroom <args>` as a child process (`scripts/homeroom.ts` with this Node). */
export function runCliProcess(dataDir: string, args: string[], env: Record<string, string> = {}, options: CliOptions = {}): Promise<CliResult> {
  const child = spawn(process.execPath, ['--disable-warning=ExperimentalWarning', new URL('../../scripts/homeroom.ts', import.meta.url).pathname, ...args], {
    env: environment(dataDir, env, options) as NodeJS.ProcessEnv,
    cwd: options.cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const out: Buffer[] = []
  const err: Buffer[] = []
  child.stdout.on('data', (d: Buffer) => out.push(d))
  child.stderr.on('data', (d: Buffer) => err.push(d))
  return new Promise((resolve, reject) => {
    child.once('error', reject)
    child.once('close', (code) => resolve(result(args, code, Buffer.concat(out), Buffer.concat(err).toString('utf8'))))
  })
}
