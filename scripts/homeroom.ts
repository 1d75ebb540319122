#!/usr/bin/env node
// The `homeroom` command line: `serve`, `token`, and the admin commands over the store
// (scripts/cli/program.ts). A `.env` file in the working directory is read first.
import { main } from './cli/program.ts'

const code = await main(process.argv.slice(2))
if (code !== 0) process.exit(code)
