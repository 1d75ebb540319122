// `npm test`: runs every test/**/*.test.ts file (uvu suites) in its own Node process, so one
// file's servers and timers cannot leak into another's. Arguments filter files by substring.
import { spawn } from 'node:child_process'
import { mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs'
import { join, relative } from 'node:path'

function findTests(dir: string): string[] {
  return readdirSync(dir).flatMap((entry) => {
    const path = join(dir, entry)
    if (statSync(path).isDirectory()) return entry === 'helpers' ? [] : findTests(path)
    return entry.endsWith('.test.ts') ? [path] : []
  })
}

/** How long each file took last time, so the longest start first and the run ends with short ones (the last slow file started decides the wall time). */
const DURATIONS = join('node_modules', '.cache', 'test-durations.json')
/** Before any run is on record: files that start browsers or several servers are the slow ones. */
const LIKELY_SLOW = /browser|client-app|cluster|chaos|process|playground/

function lastDurations(): Record<string, number> {
  try {
    return JSON.parse(readFileSync(DURATIONS, 'utf8')) as Record<string, number>
  } catch {
    return {}
  }
}

const filters = process.argv.slice(2)
const durations = lastDurations()
const expected = (f: string) => durations[f] ?? (LIKELY_SLOW.test(f) ? 60_000 : 0)
const files = findTests('test')
  .sort()
  .filter((f) => filters.length === 0 || filters.some((filter) => f.includes(filter)))
  .sort((a, b) => expected(b) - expected(a))
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
for (const { file, ms } of results) durations[file] = ms
mkdirSync(join('node_modules', '.cache'), { recursive: true })
writeFileSync(DURATIONS, JSON.stringify(durations, null, 1))
const failed = results.filter((r) => !r.ok)
process.stdout.write(`\n${results.length - failed.length} of ${results.length} test files passed\n`)
process.exit(failed.length === 0 && results.length > 0 ? 0 : 1)
