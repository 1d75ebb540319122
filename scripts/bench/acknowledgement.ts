// What the client's bookkeeping of acknowledged work costs per acknowledgement (the server
// acknowledges every update, so roughly per keystroke): `Acknowledgement.all()` plus encoding its
// record for IndexedDB, side by side with the baseline of taking and encoding a Yjs snapshot of
// the copy, on a text of 80,000 structs typed at random places (the many-structs worst case).
// Medians of 7 rounds. Run: taskset -c 1 node_modules/.bin/node scripts/bench/acknowledgement.ts
import * as Y from 'yjs'
import { Acknowledgement } from '../../docs-model/client/pending.ts'

const doc = new Y.Doc()
const text = doc.getText('body')
let seed = 1
const random = () => (seed = (seed * 16807) % 2147483647) / 2147483647
for (let i = 0; i < 100_000; i++) {
  if (i % 5 === 4) text.delete(Math.floor(random() * (text.length - 1)), 1)
  else text.insert(Math.floor(random() * text.length), 'x')
}
const structs = [...doc.store.clients.values()].reduce((n, list) => n + list.length, 0)

const median = (samples: number[]) => [...samples].sort((a, b) => a - b)[Math.floor(samples.length / 2)]

/** Milliseconds per call of `run`, median of 7 rounds of `calls` calls. */
function time(run: () => void, calls: number): number {
  const rounds: number[] = []
  for (let round = 0; round < 7; round++) {
    const started = performance.now()
    for (let i = 0; i < calls; i++) run()
    rounds.push((performance.now() - started) / calls)
  }
  return median(rounds)
}

const acks = new Acknowledgement()
const ours = time(() => {
  acks.all(doc)
  acks.encode()
}, 2000)
const baseline = time(() => Y.encodeSnapshot(Y.snapshot(doc)), 20)
process.stdout.write(`${structs} structs: acknowledgement ${(ours * 1000).toFixed(1)} µs, Yjs snapshot ${(baseline * 1000).toFixed(0)} µs, ratio ${(ours / baseline).toFixed(4)}\n`)
