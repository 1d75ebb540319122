#!/usr/bin/env node
// `npm run chaos -- --instances 3 --minutes 2 --seed N`: a Jepsen-style run of Homeroom. Several
// instances on one PostgreSQL database and one Redis of the run's own, 30 or more real clients
// behind a load balancer doing a school's day, faults at seeded random times (kills, pauses,
// Redis and PostgreSQL outages, dropped clients), then the invariants, each with its count.
// Exits 1 on any violation, 2 when the run itself could not be made. Only 127.0.0.1 is used.
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { runChaos } from './chaos/run.ts'
import { printReport } from './chaos/report.ts'

function number(value: string, name: string, min: number, max: number): number {
  const n = Number(value)
  if (!Number.isFinite(n) || n < min || n > max) throw new Error(`--${name}: expected ${min} to ${max}, got ${value}`)
  return n
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      instances: { type: 'string', default: '3' },
      minutes: { type: 'string', default: '2' },
      seed: { type: 'string', default: String(Math.floor(Math.random() * 1e9)) },
      students: { type: 'string', default: '26' },
      logs: { type: 'string' },
    },
  })
  const report = await runChaos({
    instances: number(values.instances!, 'instances', 2, 8),
    seconds: Math.round(number(values.minutes!, 'minutes', 0.25, 30) * 60),
    seed: values.seed!,
    students: number(values.students!, 'students', 3, 200),
    logDir: values.logs ?? join(tmpdir(), `homeroom-chaos-${values.seed}`),
    log: (line) => process.stdout.write(`${line}\n`),
  })
  printReport(report, (line) => process.stdout.write(`${line}\n`))
  process.exit(report.violations === 0 ? 0 : 1)
}

main().catch((error) => {
  process.stderr.write(`chaos: ${(error as Error).stack ?? error}\n`)
  process.exit(2)
})
