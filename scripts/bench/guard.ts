// Cost of the write guard relative to applying the same update: for each case, the median
// time of the guard's decision (with client-id ownership checked) on the server's copy and the
// median time of Y.applyUpdate() of the same update onto a fresh copy of that server state,
// measured in the same run. Then what ownership costs in the store, and the worst stall one
// allowed update causes (the struct cap's worth of new structs).
// Run: taskset -c 1 node_modules/.bin/node scripts/bench/guard.ts
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as Y from 'yjs'
import { resolve } from '../../docs-model/registry.ts'
import { writeContext } from '../../docs-model/rules.ts'
import type { Identity } from '../../docs-model/types.ts'
import { inspectUpdate, type CheckOptions } from '../../server/guard/check.ts'
import { DEFAULT_DECODE_LIMITS } from '../../server/guard/decode.ts'
import { SqliteStore } from '../../server/store/sqlite.ts'

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

/** Every client id is the student's, as the guard's per-document cache answers once warm. */
const owned: CheckOptions = { owners: { of: () => student.sub } }

function measure({ name, doc, state, update }: Case, runs: number, options: CheckOptions = owned): { guard: number; apply: number } {
  const { ref, surface } = resolve(doc)
  const server = new Y.Doc()
  Y.applyUpdate(server, state)
  const ctx = writeContext(student, ref, server)
  const verdict = inspectUpdate(update, surface, ctx, options).reason
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
  const check = () => void inspectUpdate(update, surface, ctx, options)
  time(check)
  const guard = median(time(check))
  console.log(`${name.padEnd(44)} ${String(update.length).padStart(9)} B   guard ${guard.toFixed(4).padStart(9)} ms   apply ${apply.toFixed(4).padStart(9)} ms   ratio ${(guard / apply).toFixed(3)}`)
  return { guard, apply }
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
// Over the default struct cap: measured with the cap lifted, to compare with the figures before it.
measure({ name: 'first upload: every struct is new (cap lifted)', doc: 's1/doc/d1', state: Y.encodeStateAsUpdate(new Y.Doc()), update: bigState }, 11, {
  ...owned,
  limits: { ...DEFAULT_DECODE_LIMITS, updateStructs: Number.POSITIVE_INFINITY },
})

// The worst stall an allowed update causes: the cap's worth of new structs, each its own item.
const cap = DEFAULT_DECODE_LIMITS.updateStructs
const worst = clientChange(small, (d) => {
  const paragraph = paragraphOf(d)
  for (let i = 0; i < cap; i++) paragraph.insert(Math.floor(next() * paragraph.length), i % 2 ? 'y' : 'z')
})
console.log(`\nthe largest allowed update (${cap} new structs, MAX_UPDATE_STRUCTS):`)
const stall = measure({ name: `${cap} characters at random places`, doc: 's1/doc/d1', state: small, update: worst }, 11)
console.log(`worst stall of one allowed update: guard + apply = ${(stall.guard + stall.apply).toFixed(1)} ms (median of 11)`)

// Ownership in the store: a session's first update costs one lookup and one claim; later ones hit the cache.
const dir = mkdtempSync(join(tmpdir(), 'homeroom-bench-'))
const store = new SqliteStore(join(dir, 'bench.db'))
const lookups: number[] = []
const claims: number[] = []
for (let i = 0; i < 2001; i++) {
  const client = 1_000_000 + i
  let started = performance.now()
  await store.clientOwners('s1/doc/d1', [client])
  lookups.push(performance.now() - started)
  started = performance.now()
  await store.claimClients('s1/doc/d1', [client], student.sub)
  claims.push(performance.now() - started)
}
await store.close()
rmSync(dir, { recursive: true, force: true })
console.log(`\nownership (SQLite): lookup ${median(lookups).toFixed(4)} ms, claim ${median(claims).toFixed(4)} ms per new client id (median of 2001); cached afterwards`)
