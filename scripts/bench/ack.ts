// A single keystroke until its acknowledgement (issue 17): one provider types one character at a
// time into a document, waiting for the server's acknowledgement (sync status) before the next,
// on Homeroom and on bare Hocuspocus from the same node_modules, each pinned to the server core,
// rounds alternating. Prints median and p99 latency for each and their ratios (goal <= 1.3x).
// Run: `npx node scripts/bench/ack.ts` (ROUNDS=5, KEYSTROKES=1000).
import * as Y from 'yjs'
import { LOAD_CPUS, median, quantile, spread, startMeasured, type MeasuredServer } from './servers.ts'
import { execFileSync } from 'node:child_process'
import { connect } from '../../test/helpers/clients.ts'
import { mintToken, teacher } from '../../test/helpers/tokens.ts'

const ROUNDS = Number(process.env.ROUNDS ?? 5)
const KEYSTROKES = Number(process.env.KEYSTROKES ?? 1000)
/** Keystrokes typed before measuring (connection set up, code paths compiled). */
const WARMUP = 200

execFileSync('taskset', ['-cp', LOAD_CPUS, String(process.pid)], { stdio: 'ignore' })

async function keystrokes(server: MeasuredServer, token: string, name: string): Promise<number[]> {
  const client = connect(server.url, name, token)
  await client.synced
  const paragraph = new Y.XmlElement('paragraph')
  const text = new Y.XmlText()
  client.doc.transact(() => {
    client.doc.getXmlFragment('body').insert(0, [paragraph])
    paragraph.insert(0, [text])
  })
  await client.acknowledged()
  const times: number[] = []
  for (let i = 0; i < WARMUP + KEYSTROKES; i++) {
    const started = performance.now()
    text.insert(text.length, 'abcdefghij'[i % 10])
    await client.acknowledged()
    if (i >= WARMUP) times.push(performance.now() - started)
  }
  client.destroy()
  return times
}

const token = await mintToken(teacher())
const rows: Array<{ median: [number, number]; p99: [number, number] }> = []
for (let round = 0; round < ROUNDS; round++) {
  const result = { median: [0, 0] as [number, number], p99: [0, 0] as [number, number] }
  for (const [i, kind] of (['homeroom', 'bare'] as const).entries()) {
    const server = await startMeasured(kind, kind === 'homeroom' ? { MAX_MESSAGES_PER_SEC: '100000' } : {})
    const times = await keystrokes(server, token, `s1/doc/ack-${round}`)
    await server.stop()
    result.median[i] = median(times)
    result.p99[i] = quantile(times, 0.99)
  }
  rows.push(result)
  console.log(
    `round ${round + 1}: median ${result.median[0].toFixed(3)} ms vs bare ${result.median[1].toFixed(3)} ms (${(result.median[0] / result.median[1]).toFixed(2)}x), p99 ${result.p99[0].toFixed(3)} vs ${result.p99[1].toFixed(3)} ms (${(result.p99[0] / result.p99[1]).toFixed(2)}x)`,
  )
}
const ratios = (f: (r: (typeof rows)[number]) => [number, number]) => rows.map((r) => f(r)[0] / f(r)[1])
console.log(`\nupdate -> acknowledgement, Homeroom / bare over ${ROUNDS} rounds of ${KEYSTROKES} keystrokes (goal <= 1.3x):`)
console.log(`  median ${median(ratios((r) => r.median)).toFixed(2)}x (${spread(ratios((r) => r.median))}), Homeroom ${median(rows.map((r) => r.median[0])).toFixed(3)} ms, bare ${median(rows.map((r) => r.median[1])).toFixed(3)} ms`)
console.log(`  p99    ${median(ratios((r) => r.p99)).toFixed(2)}x (${spread(ratios((r) => r.p99))}), Homeroom ${median(rows.map((r) => r.p99[0])).toFixed(3)} ms, bare ${median(rows.map((r) => r.p99[1])).toFixed(3)} ms`)
process.exit(0)
