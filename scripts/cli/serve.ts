import type { Command } from 'commander'
import { serve } from '../../server/main.ts'

export function serveCommand(program: Command): void {
  program
    .command('serve')
    .description('start the server (configuration from the environment; see README)')
    .option('--dev', 'developer defaults: the playground page on')
    .action(async (options: { dev?: boolean }) => {
      await serve(options.dev ? { PLAYGROUND: '1' } : {})
    })
}
