// Cost of the write guard relative to applying the same update: for each case, the median
// time of checkUpdate() on the server's copy and the median time of Y.applyUpdate() of the
// same update onto a fresh copy of that server state, measured in the same run.
// Run: taskset -c 1 node_modules/.bin/node scripts/bench/guard.ts
import * as Y from 'yjs'
import { resolve } from '../../docs-model/registry.ts'
import { writeContext } from '../../docs-model/rules.ts'
import type { Identity } from '../../docs-model/types.ts'
import { checkUpdate } from '../../server/guard/check.ts'

const student: Identity = { sub: 'u1', name: 'u1', role: 'student', schools: ['s1'], classes: [], children: [], buses: [] }

/** Deterministic pseudo-random numbers, so every run measures the same updates. */
function random(seed: number): () => number {
  return () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff
    return seed / 0x7fffffff
  }
}

function median(samples: number[]): number {
  const sorted = [...samples].sort((a, b) => a - b)
  return sorted[sorted.length >> 1]
}

interface Case {
  name: string
  doc: string
  /** The server's state before the update. */
  state: Uint8Array
  update: Uint8Array
}

function measure({ name, doc, state, update }: Case, runs: number): void {
  const { ref, surface } = resolve(doc)
  const server = new Y.Doc()
  Y.applyUpdate(server, state)
  const ctx = writeContext(student, ref, server)
  const verdict = checkUpdate(update, surface, ctx)
  if (verdict !== null) throw new Error(`${name}: the guard refused the benchmark update: ${verdict}`)
  // Each side runs in its own loop, warm (optimised by the JIT), as on a busy server; apply
  // gets a fresh copy of the server state each time, prepared outside the timed region.
  const time = (f: () => void): number[] => {
    const samples: number[] = []
    for (let i = 0; i < runs; i++) {
      const started = performance.now()
      f()
      samples.push(performance.now() - started)
    }
    return samples
  }
  const copies = Array.from({ length: 2 * runs }, () => {
    const copy = new Y.Doc()
    Y.applyUpdate(copy, state)
    return copy
  })
  const applyOne = () => Y.applyUpdate(copies.pop()!, update)
  time(applyOne)
  const apply = median(time(applyOne))
  const check = () => void checkUpdate(update, surface, ctx)
  time(check)
  const guard = median(time(check))
  console.log(`${name.padEnd(44)} ${String(update.length).padStart(9)} B   guard ${guard.toFixed(4).padStart(9)} ms   apply ${apply.toFixed(4).padStart(9)} ms   ratio ${(guard / apply).toFixed(3)}`)
}

/** A client that has synced `state` and then makes `change`; returns the update it sends. */
function clientChange(state: Uint8Array, change: (doc: Y.Doc) => void): Uint8Array {
  const client = new Y.Doc()
  Y.applyUpdate(client, state)
  const before = Y.encodeStateVector(client)
  client.transact(() => change(client))
  return Y.encodeStateAsUpdate(client, before)
}

/** A document body of `structs` separate text items, typed at pseudo-random places by u1's client. */
function textDocument(structs: number): Y.Doc {
  const doc = new Y.Doc()
  const paragraph = new Y.XmlText()
  doc.getXmlFragment('body').push([paragraph])
  const next = random(7)
  for (let i = 0; i < structs; i++) paragraph.insert(Math.floor(next() * paragraph.length), 'x')
  return doc
}

const element = (i: number) => ({ kind: 'rect', x: i, y: i * 2, w: 40, h: 30, color: '#ff0000', z: i })

const small = Y.encodeStateAsUpdate(textDocument(10_000))
const board = new Y.Doc()
for (let i = 0; i < 1000; i++) board.getMap('elements').set(`t1:${i}`, element(i))
const boardState = Y.encodeStateAsUpdate(board)
const chat = new Y.Doc()
chat.getArray('messages').push(Array.from({ length: 200 }, (_, i) => ({ id: `m${i}`, author: 't1', text: 'hello class', at: i })))
const chatState = Y.encodeStateAsUpdate(chat)

const paragraphOf = (doc: Y.Doc) => doc.getXmlFragment('body').get(0) as Y.XmlText
const next = random(11)
const cases: Case[] = [
  { name: 'keystroke: one character in a 10k document', doc: 's1/doc/d1', state: small, update: clientChange(small, (d) => paragraphOf(d).insert(5000, 'a')) },
  { name: 'keystroke: one board element moved', doc: 's1/board/b1', state: boardState, update: clientChange(boardState, (d) => d.getMap('elements').set('u1:e1', element(1))) },
  { name: 'keystroke: one chat message', doc: 's1/chat/c1', state: chatState, update: clientChange(chatState, (d) => d.getArray('messages').push([{ id: 'x1', author: 'u1', text: 'hi', at: 1 }])) },
  {
    name: '1,000 inserts: characters at random places',
    doc: 's1/doc/d1',
    state: small,
    update: clientChange(small, (d) => {
      for (let i = 0; i < 1000; i++) paragraphOf(d).insert(Math.floor(next() * 10_000), 'b')
    }),
  },
  {
    name: '1,000 inserts: board elements (zod-checked)',
    doc: 's1/board/b1',
    state: boardState,
    update: clientChange(boardState, (d) => {
      for (let i = 0; i < 1000; i++) d.getMap('elements').set(`u1:${i}`, element(i))
    }),
  },
  {
    name: '1,000 inserts: chat messages (zod-checked)',
    doc: 's1/chat/c1',
    state: chatState,
    update: clientChange(chatState, (d) => {
      for (let i = 0; i < 1000; i++) d.getArray('messages').push([{ id: `n${i}`, author: 'u1', text: 'hello', at: i }])
    }),
  },
]
for (const c of cases) measure(c, 501)

const big = textDocument(100_000)
const bigState = Y.encodeStateAsUpdate(big)
const structs = [...big.store.clients.values()].reduce((n, list) => n + list.length, 0)
console.log(`\nsync step 2 of a document with ${structs} structs:`)
measure({ name: 'reconnect: server already has all of it', doc: 's1/doc/d1', state: bigState, update: bigState }, 11)
measure({ name: 'first upload: every struct is new', doc: 's1/doc/d1', state: Y.encodeStateAsUpdate(new Y.Doc()), update: bigState }, 11)
