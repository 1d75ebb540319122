#!/usr/bin/env node
// The `homeroom` command line: `serve`, `token`, and the admin commands over the store
// (scripts/cli/program.ts). A `.env` file in the working directory is read first.
import { enableCompileCache } from 'node:module'

// Node strips the types of every module at each start; its compile cache keeps the result
// (halving the start of a command), so the program is imported only once the cache is on.
enableCompileCache()
const { main } = await import('./cli/program.ts')

const code = await main(process.argv.slice(2))
if (code !== 0) process.exit(code)
