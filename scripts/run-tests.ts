// `npm test`: runs every test/**/*.test.ts file (uvu suites) in its own Node process, so one
// file's servers and timers cannot leak into another's. Arguments filter files by substring.
import { spawn } from 'node:child_process'
import { readdirSync, statSync } from 'node:fs'
import { join, relative } from 'node:path'

function findTests(dir: string): string[] {
  return readdirSync(dir).flatMap((entry) => {
    const path = join(dir, entry)
    if (statSync(path).isDirectory()) return entry === 'helpers' ? [] : findTests(path)
    return entry.endsWith('.test.ts') ? [path] : []
  })
}

const filters = process.argv.slice(2)
const files = findTests('test')
  .sort()
  .filter((f) => filters.length === 0 || filters.some((filter) => f.includes(filter)))
const concurrency = Number(process.env.TEST_CONCURRENCY ?? 2)
// Every file, and every server process a file starts, loads the same modules: Node's on-disk
// compile cache spares them compiling (and type-stripping) each one again, about half of start-up.
const env = { ...process.env, NODE_COMPILE_CACHE: process.env.NODE_COMPILE_CACHE ?? join('node_modules', '.cache', 'node-compile') }

function run(file: string): Promise<{ file: string; ok: boolean; ms: number; output: string }> {
  const started = Date.now()
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--disable-warning=ExperimentalWarning', file], { stdio: ['ignore', 'pipe', 'pipe'], env })
    let output = ''
    child.stdout.on('data', (d) => (output += d))
    child.stderr.on('data', (d) => (output += d))
    const timer = setTimeout(() => child.kill('SIGKILL'), Number(process.env.TEST_FILE_TIMEOUT_MS ?? 240_000))
    child.on('exit', (code) => {
      clearTimeout(timer)
      resolve({ file, ok: code === 0, ms: Date.now() - started, output })
    })
  })
}

const results: Awaited<ReturnType<typeof run>>[] = []
const queue = [...files]
await Promise.all(
  Array.from({ length: Math.min(concurrency, files.length) }, async () => {
    for (let file = queue.shift(); file; file = queue.shift()) {
      const result = await run(file)
      results.push(result)
      process.stdout.write(`${result.ok ? 'PASS' : 'FAIL'} ${relative('.', file)} (${(result.ms / 1000).toFixed(1)} s)\n`)
      if (!result.ok || process.env.TEST_VERBOSE) process.stdout.write(result.output.replace(/^/gm, '    ') + '\n')
      else {
        const skips = result.output.split('\n').filter((l) => l.includes('SKIPPED'))
        for (const line of skips) process.stdout.write(`    ${line}\n`)
      }
    }
  }),
)
const failed = results.filter((r) => !r.ok)
process.stdout.write(`\n${results.length - failed.length} of ${results.length} test files passed\n`)
process.exit(failed.length === 0 && results.length > 0 ? 0 : 1)
