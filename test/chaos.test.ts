// The chaos run in CI (scripts/chaos/run.ts; `npm run chaos` runs the long one): three instances
// on a private Redis and a proxied PostgreSQL, a small school's clients behind the balancer, a
// short seeded workload with faults, then every invariant. The fault schedule and each invariant
// with its count are printed; any violated invariant fails the test, which names the seed.
// Bounded: every wait of the run has a deadline, and only 127.0.0.1 is used. CHAOS_SEED replays
// a seed (`random` picks one).
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { spawnSync } from 'node:child_process'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { runChaos } from '../scripts/chaos/run.ts'
import { printReport } from '../scripts/chaos/report.ts'
import { testSeed } from './helpers/random.ts'

const seed = testSeed('CHAOS_SEED', 'ci-1')
/** Short enough for CI (a minute of wall on two cores), long enough for one fault of most kinds. */
const SECONDS = 20
const STUDENTS = 12

const hasRedisServer = spawnSync('redis-server', ['--version']).status === 0
if (!hasRedisServer) {
  console.log('SKIPPED chaos: no redis-server binary (the run starts a private one)')
} else {
  test(`a short chaos run (seed ${seed}) keeps every invariant`, async () => {
    const report = await runChaos({
      instances: 3,
      seconds: SECONDS,
      seed,
      students: STUDENTS,
      logDir: join(tmpdir(), `homeroom-chaos-ci-${seed}`),
      log: (line) => console.log(line),
    })
    printReport(report, (line) => console.log(line))
    assert.ok(report.faults.length >= 2, `faults injected: ${report.faults.length}`)
    const failed = report.checks.filter((c) => c.violations.length > 0)
    assert.is(failed.length, 0, `violated: ${failed.map((c) => `${c.name} (${c.violations.length}: ${c.violations.slice(0, 3).join(' | ')})`).join('; ')}`)
  })

  test.run()
}
