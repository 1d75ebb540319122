// Running the `homeroom` command line the way an admin runs it: in this process (fast: the program
// gets an environment, a working directory and output buffers of its own, and `exit` ends only the
// command), or as a child process where the process itself matters (`.env`, `serve`, `--version`).
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
  const out: Buffer[] = []
  let stderr = ''
  const io: Io = {
    env: environment(dataDir, env, options),
    cwd: options.cwd ?? process.cwd(),
    stdout: { write: (chunk) => out.push(typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.from(chunk)), isTTY: false },
    stderr: { write: (chunk) => (stderr += chunk), isTTY: false },
    exit(code) {
      throw new Exit(code)
    },
  }
  const code = await main(args, io)
  return result(args, code, Buffer.concat(out), stderr)
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
