import type { Command } from 'commander'
import { configOrExit } from '../../server/config.ts'
import { Identities, TtlError } from '../../server/identity.ts'
import { ROLES } from '../../docs-model/types.ts'

const list = (value: string): string[] => value.split(',').map((s) => s.trim()).filter(Boolean)

export function tokenCommand(program: Command): void {
  program
    .command('token')
    .description("print a token signed with the server's configured key")
    .requiredOption('--sub <id>', 'user id')
    .requiredOption('--role <role>', `one of ${ROLES.join(', ')}`)
    .requiredOption('--schools <ids>', 'comma-separated school ids ("*" only for service)')
    .option('--name <name>', 'display name')
    .option('--classes <ids>', 'comma-separated class ids', list)
    .option('--children <ids>', 'comma-separated student ids (parents)', list)
    .option('--buses <ids>', 'comma-separated bus ids', list)
    .option('--ttl <duration>', 'lifetime such as 15m, 8h, 1d, at most MAX_TOKEN_TTL (default: 8h, or MAX_TOKEN_TTL when shorter)')
    .action(async (o: { sub: string; role: string; schools: string; name?: string; classes?: string[]; children?: string[]; buses?: string[]; ttl?: string }) => {
      const identities = new Identities(configOrExit())
      try {
        const token = await identities.mint(
          { sub: o.sub, role: o.role as (typeof ROLES)[number], schools: list(o.schools), name: o.name, classes: o.classes, children: o.children, buses: o.buses },
          o.ttl,
        )
        process.stdout.write(`${token}\n`)
      } catch (error) {
        const issues = (error as { issues?: Array<{ path: unknown[]; message: string }> }).issues
        const message = issues
          ? issues.map((i) => `--${i.path.join('.')}: ${i.message}`).join('; ')
          : error instanceof TtlError
            ? `--ttl: ${error.message}`
            : (error as Error).message
        process.stderr.write(`homeroom token: ${message}\n`)
        process.exit(2)
      }
    })
}
