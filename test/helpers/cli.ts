// Running the `homeroom` command line as a child process, the way an admin runs it.
import { spawn } from 'node:child_process'
import { testEnv } from './server.ts'

export interface CliResult {
  code: number | null
  stdout: string
  stderr: string
  /** stdout parsed as JSON (for `--json` and `docs show`); throws with the output when it is not JSON. */
  json(): any
}

/** Runs `homeroom <args>` against the store in `dataDir`; `input` is written to its standard input. */
export function runCli(dataDir: string, args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  const child = spawn(process.execPath, ['--disable-warning=ExperimentalWarning', 'scripts/homeroom.ts', ...args], {
    env: { ...process.env, ...testEnv(dataDir, env) },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const out: Buffer[] = []
  const err: Buffer[] = []
  child.stdout.on('data', (d: Buffer) => out.push(d))
  child.stderr.on('data', (d: Buffer) => err.push(d))
  return new Promise((resolve, reject) => {
    child.once('error', reject)
    child.once('close', (code) => {
      const stdout = Buffer.concat(out).toString('utf8')
      const stderr = Buffer.concat(err).toString('utf8')
      resolve({
        code,
        stdout,
        stderr,
        json() {
          try {
            return JSON.parse(stdout)
          } catch {
            throw new Error(`homeroom ${args.join(' ')} printed no JSON (exit ${code}):\n${stdout}\n${stderr}`)
          }
        },
      })
    })
  })
}
