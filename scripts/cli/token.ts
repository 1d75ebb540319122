// `homeroom token`: a token signed with the server's key. Without JWT_SECRET or a key pair that key
// is the secret the server keeps in DATA_DIR, so a DATA_DIR that holds no server's files is refused
// rather than given a secret of its own (the server would refuse every token signed with it).
import { existsSync } from 'node:fs'
import { join, resolve } from 'node:path'
import type { Command } from 'commander'
import type { Config } from '../../server/config.ts'
import { Identities, TtlError } from '../../server/identity.ts'
import { ROLES } from '../../docs-model/types.ts'
import { CliError, configOrExit, io } from './common.ts'

const list = (value: string): string[] => value.split(',').map((s) => s.trim()).filter(Boolean)

const SECRET_FILE = 'jwt-secret'
const FLAGS: Record<string, string> = { sub: '--sub', name: '--name', role: '--role', schools: '--schools', classes: '--classes', children: '--children', buses: '--buses' }

interface ZodIssue {
  path: PropertyKey[]
  message: string
  code?: string
  values?: unknown[]
}

/** One clause per bad claim, naming its flag (and the item of a list). */
function claimProblem(issue: ZodIssue, given: Record<string, unknown>): string {
  const [field = 'schools', index] = issue.path
  const flag = FLAGS[String(field)] ?? `--${String(field)}`
  const value = index === undefined ? given[String(field)] : (given[String(field)] as unknown[] | undefined)?.[index as number]
  const shown = typeof value === 'string' ? ` '${value}'` : ''
  if (issue.code === 'invalid_value' && field === 'role') return `${flag}${shown}: must be one of ${ROLES.join(', ')}`
  if (issue.code === 'invalid_format' || issue.code === 'invalid_union') return `${flag}${shown}: must be letters, digits, _ or - (1 to 64 characters)`
  if (issue.path.length === 0) return `--schools: "*" (every school) is only for --role service`
  if (issue.code === 'too_small') return `${flag}: give at least one`
  if (issue.code === 'too_big') return `${flag}: too many (${issue.message.replace(/^Too big: /, '')})`
  return `${flag}${shown}: ${issue.message}`
}

/**
 * Where the HS256 secret comes from, checked before `Identities` would create one: a DATA_DIR
 * holding neither the store nor a secret is not the server's.
 */
function checkSecretSource(config: Config): { created?: string } {
  if (config.jwt.secret || config.jwt.publicKey) return {}
  const dir = resolve(config.dataDir)
  const secret = join(dir, SECRET_FILE)
  if (existsSync(secret)) return {}
  // The server writes its secret at start, also with DATABASE_URL: its DATA_DIR has one.
  if (!existsSync(join(dir, 'homeroom.db'))) {
    throw new CliError(
      `no signing secret in DATA_DIR=${dir} (it holds neither ${SECRET_FILE} nor homeroom.db, so it is not a server's data folder): ` +
        `a token signed with a new secret there would be refused. Point DATA_DIR at the server's folder ` +
        `(DATA_DIR=/path/to/data npm run --silent homeroom -- token …; the server's start-up line prints it), or set JWT_SECRET as the server has it`,
      2,
    )
  }
  return { created: secret }
}

export function tokenCommand(program: Command): void {
  program
    .command('token')
    .description("print a token signed with the server's key (JWT_SECRET, the secret in DATA_DIR, or JWT_PRIVATE_KEY)")
    .requiredOption('--sub <id>', 'user id')
    .requiredOption('--role <role>', `one of ${ROLES.join(', ')}`)
    .requiredOption('--schools <ids>', 'comma-separated school ids ("*" only for service)')
    .option('--name <name>', 'display name')
    .option('--classes <ids>', 'comma-separated class ids', list)
    .option('--children <ids>', 'comma-separated student ids (parents)', list)
    .option('--buses <ids>', 'comma-separated bus ids', list)
    .option('--ttl <duration>', 'lifetime such as 15m, 8h, 1d, at most MAX_TOKEN_TTL (default: 8h, or MAX_TOKEN_TTL when shorter)')
    .action(async (o: { sub: string; role: string; schools: string; name?: string; classes?: string[]; children?: string[]; buses?: string[]; ttl?: string }) => {
      const config = configOrExit()
      const fail = (message: string, code: number) => {
        io.stderr.write(`homeroom token: ${message}\n`)
        return io.exit(code)
      }
      let source: { created?: string }
      try {
        source = checkSecretSource(config)
      } catch (error) {
        return fail((error as CliError).message, (error as CliError).exitCode)
      }
      const claims = { sub: o.sub, role: o.role as (typeof ROLES)[number], schools: list(o.schools), name: o.name, classes: o.classes, children: o.children, buses: o.buses }
      let token: string
      try {
        const identities = new Identities(config)
        if (source.created) {
          io.stderr.write(
            `homeroom token: NOTE: DATA_DIR=${resolve(config.dataDir)} had no signing secret; wrote a new one to ${source.created}. ` +
              `A server with this DATA_DIR and without JWT_SECRET accepts this token from its next start; one running with JWT_SECRET refuses it\n`,
          )
        }
        token = await identities.mint(claims, o.ttl)
      } catch (error) {
        const issues = (error as { issues?: ZodIssue[] }).issues
        if (issues) return fail(issues.map((issue) => claimProblem(issue, claims)).join('; '), 2)
        if (error instanceof TtlError) return fail(`--ttl: ${error.message}`, 2)
        return fail((error as Error).message, 2)
      }
      io.stdout.write(`${token}\n`)
    })
}
