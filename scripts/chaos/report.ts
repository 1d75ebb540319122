// A chaos run's report as lines: the workload's size, the faults injected by kind, each invariant
// with its count and first violations, the instances' error lines by message, and on failure the
// seed and schedule that replay it.
import type { ChaosReport } from './run.ts'
import { describe } from './faults.ts'

export function printReport(report: ChaosReport, write: (line: string) => void): void {
  const faults = Object.entries(report.injected).map(([kind, n]) => `${kind} ${n}`).join(', ')
  write(`\nchaos run, seed ${report.seed}: ${report.clients} clients, ${report.counts.writes} client writes, ${report.counts.drops} dropped mid-update, ${report.counts.notifications.length} notifications, ${report.counts.emergencies.length} emergencies, ${report.counts.submissions} exam submissions`)
  write(`faults injected: ${report.faults.length} (${faults})`)
  for (const check of report.checks) {
    write(`${check.violations.length === 0 ? 'ok  ' : 'FAIL'} ${check.name}: ${check.count} checked${check.violations.length ? `, ${check.violations.length} violations` : ''}`)
    for (const violation of check.violations.slice(0, 20)) write(`       ${violation}`)
    if (check.violations.length > 20) write(`       … and ${check.violations.length - 20} more`)
  }
  for (const [id, lines] of Object.entries(report.errors)) {
    const messages = new Map<string, number>()
    for (const line of lines) {
      const msg = /"msg":"([^"]*)"/.exec(line)?.[1] ?? line.slice(0, 120)
      messages.set(msg, (messages.get(msg) ?? 0) + 1)
    }
    if (messages.size > 0) write(`${id} logged ${lines.length} errors: ${[...messages].map(([m, n]) => `${n}× ${m}`).join('; ')}`)
  }
  write(`instance logs: ${report.logDir}`)
  write(`${report.violations === 0 ? 'all invariants hold' : `${report.violations} violations`} (${report.checks.length} invariants, ${(report.wallMs / 1000).toFixed(0)} s wall)`)
  if (report.violations > 0) write(`replay: npm run chaos -- --seed ${report.seed}; schedule:\n${report.faults.map((f) => `  ${describe(f)}`).join('\n')}`)
}
