// The `homeroom` program: its commands, the `.env` file, and where input and output go. The
// executable (scripts/homeroom.ts) runs it on the real process; tests run it in-process with an
// `Io` of their own (test/helpers/cli.ts).
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { parseEnv } from 'node:util'
import { Command, CommanderError } from 'commander'
import { Exit, io, processIo, useIo, type Io } from './common.ts'
import { serveCommand } from './serve.ts'
import { tokenCommand } from './token.ts'
import { docsCommand } from './docs.ts'
import { retentionCommand } from './retention.ts'

export const VERSION: string = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')).version

/**
 * Reads `.env` from the working directory, when there is one, into the environment: variables
 * already set win over it. Returns the names it set.
 */
export function loadEnvFile(target: Io): Set<string> {
  const file = join(target.cwd, '.env')
  if (!existsSync(file)) return new Set()
  const before = new Set(Object.keys(target.env))
  try {
    if (target.env === process.env && target.cwd === process.cwd()) process.loadEnvFile(file)
    else {
      for (const [name, value] of Object.entries(parseEnv(readFileSync(file, 'utf8')))) if (target.env[name] === undefined) target.env[name] = value
    }
  } catch (error) {
    target.stderr.write(`homeroom: cannot read ${file}: ${(error as Error).message}\n`)
    target.exit(2)
  }
  return new Set(Object.keys(target.env).filter((name) => !before.has(name)))
}

export function buildProgram(fromEnvFile: ReadonlySet<string> = new Set()): Command {
  const program = new Command('homeroom')
    .description('Homeroom: real-time collaboration server for schools')
    .version(VERSION, '-V, --version', 'print the version')
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput({ writeOut: (text) => io.stdout.write(text), writeErr: (text) => io.stderr.write(text) })
    .exitOverride((error: CommanderError) => io.exit(error.exitCode === 0 ? 0 : 2))
  serveCommand(program, fromEnvFile)
  tokenCommand(program)
  docsCommand(program)
  retentionCommand(program)
  return program
}

/** Runs `homeroom <args>`; resolves with the exit code (in-process `Io`s end with `Exit`). */
export async function main(args: string[], target: Io = processIo): Promise<number> {
  useIo(target)
  try {
    const fromEnvFile = loadEnvFile(target)
    await buildProgram(fromEnvFile).parseAsync(args, { from: 'user' })
    return 0
  } catch (error) {
    if (error instanceof Exit) return error.code
    throw error
  } finally {
    useIo(processIo)
  }
}
