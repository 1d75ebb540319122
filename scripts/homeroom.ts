#!/usr/bin/env node
// The `homeroom` command line: `serve`, `token`, and the admin commands over the store.
import { Command } from 'commander'
import { serveCommand } from './cli/serve.ts'
import { tokenCommand } from './cli/token.ts'
import { docsCommand } from './cli/docs.ts'
import { retentionCommand } from './cli/retention.ts'

const program = new Command('homeroom')
  .description('Homeroom: real-time collaboration server for schools')
  .showHelpAfterError('(run with --help for usage)')
  .exitOverride((error) => process.exit(error.exitCode === 0 ? 0 : 2))

serveCommand(program)
tokenCommand(program)
docsCommand(program)
retentionCommand(program)

await program.parseAsync(process.argv)
