import type { Command } from 'commander'
import { io } from './common.ts'

export function serveCommand(program: Command, fromEnvFile: ReadonlySet<string> = new Set()): void {
  program
    .command('serve')
    .description('start the server (configuration from the environment and ./.env; see README)')
    .option('--dev', 'developer defaults: the playground page on')
    .action(async (options: { dev?: boolean }) => {
      // Loaded here so that the admin commands do not pay for loading the whole server.
      const { serve } = await import('../../server/main.ts')
      await serve(options.dev ? { PLAYGROUND: '1' } : {}, { fromEnvFile, target: io })
    })
}
