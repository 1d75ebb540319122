// The write guard against the truth, on every surface: seeded sequences of honest edits (made
// through the Yjs API on real replicas, concurrent, offline, resent from older state vectors) and
// hostile ones (random edits anywhere, hand-made structs with offsets, overlaps, GC and Skip
// structs, origins into other users' and the server's items, mutated honest updates), with server
// writes and restarts in between. Each update is applied to a copy of the server's document and
// the result reloaded from its encoding; the difference is judged path by path against the rules.
//
//   GUARD_CASES=<n>       cases per surface (default 14; each case is up to GUARD_STEPS steps, default 40)
//   GUARD_SEED=<n>        another seed (default fixed, so CI is deterministic; `random` picks one)
//   GUARD_SURFACE=<name>  only the scenario of this document name (or surface key), e.g. s1/doc/d1
//   GUARD_CASE=<i>        only case i (with GUARD_SEED and GUARD_SURFACE: the replay a failure prints)
//   GUARD_DUMP=1          failures also print the server's state (hex), its client id and the owners map
//   GUARD_VERBOSE=1       print every refused honest edit and why refusing it is right
//
// Each failure names its kind, the seed, surface, case and step, the update (hex and readable),
// a smaller update failing the same way, expected vs actual, and a one-line replay command.
import { spawnSync } from 'node:child_process'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import * as Y from 'yjs'
import { resolve, SURFACES } from '../docs-model/registry.ts'
import { writeContext } from '../docs-model/rules.ts'
import { inspectUpdate, SERVER_OWNER, type Owners } from '../server/guard/check.ts'
import {
  breaches, describeFailure, LIMITS, nestedArrayBytes, newStats, objectWithRawBytes, person, reasonPrefix, runCase, snapshot, truthOf,
  type Failure, type Stats,
} from './helpers/differential.ts'
import { SCENARIOS } from './helpers/differential-scenarios.ts'
import { testSeed } from './helpers/random.ts'
import { describeUpdate, encodeBlocks, toHex } from './helpers/update-blocks.ts'

const SEED = testSeed('GUARD_SEED', '20261122')
const CASES = Number(process.env.GUARD_CASES ?? 14)
const STEPS = Number(process.env.GUARD_STEPS ?? 40)
const ONLY_SURFACE = process.env.GUARD_SURFACE
const ONLY_CASE = process.env.GUARD_CASE === undefined ? undefined : Number(process.env.GUARD_CASE)

const replayCommand = (f: Failure) => `GUARD_SEED=${f.seed} GUARD_SURFACE=${f.scenario} GUARD_CASE=${f.caseIndex} npx node test/guard-differential.test.ts`

/** One line per surface: what was sent, what the guard did, and what the generator explored. */
function summary(name: string, key: string, stats: Stats): string {
  const list = (map: Map<string, number>, n = 99) => [...map].sort((a, b) => b[1] - a[1]).slice(0, n).map(([k, count]) => `${k} ×${count}`).join('; ')
  const total = (map: Map<string, number>) => [...map.values()].reduce((a, b) => a + b, 0)
  const generators = [...stats.generators].map(([g, { sent, refused }]) => `${g} ${refused}/${sent}`).join(', ')
  const features = (kind: string) => list(new Map([...stats.features].filter(([f]) => f.startsWith(kind)).map(([f, n]) => [f.slice(kind.length + 1), n])))
  return `[guard-differential] ${name} (${key}): ${stats.cases} cases, ${stats.updates} updates, ${stats.restarts} restarts, ${stats.serverWrites} server writes` +
    ` | honest: ${stats.honestAccepted} accepted, ${total(stats.honestRefused)} refused [${list(stats.honestRefused)}] by kind [${list(stats.honestKinds)}] carrying [${features('honest')}]` +
    ` | hostile: ${stats.hostileAccepted} accepted, ${total(stats.hostileRefused)} refused (${stats.hostileHarmful} of them would have broken a rule; refused/sent: ${generators}) carrying [${features('hostile')}]` +
    ` | refused hostile by reason: ${list(stats.hostileRefused)}`
}

test('every surface of the registry has a scenario', () => {
  const covered = new Set(SCENARIOS.map((s) => resolve(s.name).surface.key))
  for (const surface of SURFACES) assert.ok(covered.has(surface.key), `no differential scenario for ${surface.pattern}`)
})

// ---------------------------------------------------------------------------------------------
// Targeted cases from the security review. Each one fails against a guard that checks a struct
// only at its declared parent.

const t1 = person('t1', 'teacher')
const u1 = person('u1', 'student')

function serverDoc(client: number): Y.Doc {
  const doc = new Y.Doc()
  doc.clientID = client
  return doc
}

/** Applies what `replica` has and the server lacks (as an accepted update would). */
function send(server: Y.Doc, replica: Y.Doc): Uint8Array {
  const update = Y.encodeStateAsUpdate(replica, Y.encodeStateVector(server))
  Y.applyUpdate(server, update)
  Y.applyUpdate(replica, Y.encodeStateAsUpdate(server, Y.encodeStateVector(replica)))
  return update
}

const ownersOf = (entries: Array<[number, string]>): Owners => {
  const map = new Map(entries)
  return { of: (c) => map.get(c) }
}

/** The guard's verdict, and when it accepts, the truth after reload judged against the rules. */
function verdictAndTruth(name: string, server: Y.Doc, user: typeof u1, update: Uint8Array, owners: Owners | undefined) {
  const { ref, surface } = resolve(name)
  const ctx = writeContext(user, ref, server)
  const verdict = inspectUpdate(update, surface, ctx, { owners, limits: LIMITS })
  const state = Y.encodeStateAsUpdate(server)
  const truth = truthOf(state, snapshot(server), update)
  return { verdict, truth, broken: breaches(surface, ctx, truth.changes), reloaded: () => reload(state, update) }
}

function reload(state: Uint8Array, update: Uint8Array): Y.Doc {
  const copy = new Y.Doc()
  Y.applyUpdate(copy, state)
  Y.applyUpdate(copy, update)
  const fresh = new Y.Doc()
  Y.applyUpdate(fresh, Y.encodeStateAsUpdate(copy))
  return fresh
}

const explain = (update: Uint8Array, reason: string | null, extra = '') =>
  `update ${toHex(update)} (${describeUpdate(update)}): guard says ${reason === null ? 'accepted' : reason}${extra}`

test("offset struct: a student's struct under the teacher's client id, starting one clock before its state, declared in body, would continue the teacher's comment", () => {
  const name = 's1/doc/d1'
  const server = serverDoc(1)
  server.getXmlFragment('body').insert(0, [new Y.XmlText('Hello')])
  const teacher = serverDoc(4242)
  Y.applyUpdate(teacher, Y.encodeStateAsUpdate(server))
  teacher.getMap('comments').set('t1:c1', { text: 'Grade: A', at: 1 })
  send(server, teacher)
  const C = teacher.clientID
  const state = Y.getState(server.store, C)
  const update = encodeBlocks({ blocks: [{ client: C, clock: state - 1, structs: [{ parent: 'body', content: { any: ['(known)', { text: 'Grade: F', at: 2 }] } }] }], deletes: [] })
  // Without a guard, storage gives back the teacher's comment rewritten by the student.
  assert.equal(reload(Y.encodeStateAsUpdate(server), update).getMap('comments').get('t1:c1'), { text: 'Grade: F', at: 2 }, 'the attack works without the guard')
  for (const [label, owners] of [
    ['with owners', ownersOf([[1, SERVER_OWNER], [C, 't1']])],
    // The location check must hold on its own: an id nobody recorded (data from before ownership) is no shield.
    ['without owners', undefined],
  ] as const) {
    const { verdict, broken, reloaded } = verdictAndTruth(name, server, u1, update, owners)
    if (verdict.reason === null) {
      assert.equal(reloaded().getMap('comments').get('t1:c1'), { text: 'Grade: A', at: 1 }, `${label}: ${explain(update, verdict.reason)}`)
      assert.equal(broken, [], `${label}: ${explain(update, verdict.reason)}`)
    }
  }
})

test("offset struct under the sender's own id: declared at the sender's read receipt, it would land in the messages list after the sender's last message", () => {
  const name = 's1/chat/c1'
  const server = serverDoc(1)
  const student = serverDoc(5151)
  student.getArray('messages').push([{ id: 'm1', author: 'u1', text: 'hi', at: 1 }])
  send(server, student)
  const C = student.clientID
  const state = Y.getState(server.store, C)
  // Both values are strings, as a read receipt must be; in the messages list a string is no message.
  const update = encodeBlocks({ blocks: [{ client: C, clock: state - 1, structs: [{ parent: 'reads', parentSub: 'u1', content: { any: ['m1', 'I quit'] } }] }], deletes: [] })
  assert.equal(reload(Y.encodeStateAsUpdate(server), update).getArray('messages').toJSON().at(-1), 'I quit', 'the attack works without the guard')
  const { verdict, broken, reloaded } = verdictAndTruth(name, server, u1, update, ownersOf([[1, SERVER_OWNER], [C, 'u1']]))
  if (verdict.reason === null) {
    assert.equal(reloaded().getArray('messages').toJSON(), [{ id: 'm1', author: 'u1', text: 'hi', at: 1 }], explain(update, verdict.reason))
    assert.equal(broken, [], explain(update, verdict.reason))
  }
})

test("clock squatting: after a restart, a GC struct under the teacher's client id covering the next 1,000 clocks is refused; the teacher's next edit still applies", () => {
  const name = 's1/doc/d1'
  const { ref, surface } = resolve(name)
  const before = serverDoc(1)
  const teacher = serverDoc(4242)
  teacher.getMap('comments').set('t1:c1', { text: 'first', at: 1 })
  send(before, teacher)
  // Restart: the document comes back from storage under a new client id; ownership is in the store.
  const server = serverDoc(2)
  Y.applyUpdate(server, Y.encodeStateAsUpdate(before))
  const C = teacher.clientID
  const squat = encodeBlocks({ blocks: [{ client: C, clock: Y.getState(server.store, C), structs: [{ gc: 1000 }] }], deletes: [] })
  teacher.getMap('comments').set('t1:c2', { text: 'second', at: 2 })
  const edit = Y.encodeStateAsUpdate(teacher, Y.encodeStateVector(server))
  // Without a guard, Yjs takes the teacher's next change for one it already has and drops it.
  const unguarded = new Y.Doc()
  Y.applyUpdate(unguarded, Y.encodeStateAsUpdate(server))
  Y.applyUpdate(unguarded, squat)
  Y.applyUpdate(unguarded, edit)
  assert.is(unguarded.getMap('comments').get('t1:c2'), undefined, 'the attack works without the guard')
  for (const [label, owners] of [
    ['owners from the store', ownersOf([[1, SERVER_OWNER], [2, SERVER_OWNER], [C, 't1']])],
    // Even with the owner unknown (ownership lost), the server holds structs under the id: nobody's to continue.
    ['owner unknown', ownersOf([[1, SERVER_OWNER], [2, SERVER_OWNER]])],
  ] as const) {
    const verdict = inspectUpdate(squat, surface, writeContext(u1, ref, server), { owners, limits: LIMITS })
    assert.ok(verdict.reason !== null, `${label}: ${explain(squat, verdict.reason)}`)
  }
  const verdict = inspectUpdate(edit, surface, writeContext(t1, ref, server), { owners: ownersOf([[1, SERVER_OWNER], [2, SERVER_OWNER], [C, 't1']]), limits: LIMITS })
  assert.is(verdict.reason, null, explain(edit, verdict.reason))
  Y.applyUpdate(server, edit)
  assert.equal(server.getMap('comments').get('t1:c2'), { text: 'second', at: 2 })
})

test('a value nested 5,000 arrays deep in a chat message is refused by its depth; Yjs itself cannot read such an update back (RangeError)', () => {
  const cases: Array<[string, string, string | undefined]> = [
    // In an extra key of a chat message (its schema refuses the key, but only after the value is read).
    ['s1/chat/c1', 'messages', undefined],
    // In a dashboard value, where any JSON is allowed: only the depth limit stands in the way.
    ['s1/dashboard/d1', 'data', 'grades'],
  ]
  const updateFor = (root: string, key: string | undefined, depth: number) => {
    const value = root === 'messages' ? objectWithRawBytes({ id: 'm1', author: 'u1', text: 'hi', at: 1 }, 'extra', nestedArrayBytes(depth)) : nestedArrayBytes(depth)
    return encodeBlocks({ blocks: [{ client: 777, clock: 0, structs: [{ parent: root, ...(key ? { parentSub: key } : {}), content: { anyRaw: [value] } }] }], deletes: [] })
  }
  for (const [name, root, key] of cases) {
    const { ref, surface } = resolve(name)
    const user = name.includes('dashboard') ? person('svc', 'service') : u1
    for (const depth of [5_000, 50_000]) {
      const update = updateFor(root, key, depth)
      const verdict = inspectUpdate(update, surface, writeContext(user, ref, serverDoc(1)), { owners: ownersOf([[1, SERVER_OWNER]]), limits: LIMITS })
      assert.ok(verdict.reason?.startsWith('too-large:'), `${name}, ${depth} deep: refused for its depth, not ${verdict.reason}`)
    }
    // Yjs reads values recursively: 5,000 levels overflow the stack of a fresh process (a server
    // loading the document after a restart); a process whose reader the JIT has optimised lasts
    // to some 7,000 levels, so here the proof in this process uses 50,000.
    assert.is(applyInFreshProcess(updateFor(root, key, 5_000)), 'RangeError', `${name}: a fresh process cannot apply the 5,000-deep update`)
    assert.throws(() => Y.applyUpdate(new Y.Doc(), updateFor(root, key, 50_000)), (error: unknown) => error instanceof RangeError, `${name}: Yjs overflows its stack`)
  }
})

/** What a fresh Node process says when it applies `update` to an empty document: 'applied' or the error's class. */
function applyInFreshProcess(update: Uint8Array): string {
  const script = "import * as Y from 'yjs'; try { Y.applyUpdate(new Y.Doc(), new Uint8Array(Buffer.from(process.argv[1], 'hex'))); console.log('applied') } catch (e) { console.log(e.constructor.name) }"
  const child = spawnSync(process.execPath, ['--input-type=module', '-e', script, toHex(update)], { cwd: process.cwd(), encoding: 'utf8' })
  return child.stdout.trim() || child.stderr.trim()
}

// ---------------------------------------------------------------------------------------------
// Defects the differential test found (seeds in the failures it prints), each as one small
// deterministic case: the attack is shown to work without the guard, then the guard must refuse
// it or the truth after reload must break no rule.

/** A student's replica of s1/class/7a that set its activity twice (so the key has an older value). */
function classWithActivity() {
  const server = serverDoc(1)
  server.getMap('stats').set('active', 0)
  const replica = serverDoc(500)
  Y.applyUpdate(replica, Y.encodeStateAsUpdate(server))
  replica.getMap('activity').set('u1', { state: 'active', at: 1 })
  send(server, replica)
  replica.getMap('activity').set('u1', { state: 'idle', at: 2 })
  send(server, replica)
  const ids = (key: string) => {
    const current = server.getMap('activity')._map.get(key)!
    return { current: [current.id.client, current.id.clock] as const, older: [current.left!.id.client, current.left!.id.clock] as const }
  }
  return { server, ids: ids('u1'), owners: ownersOf([[1, SERVER_OWNER], [500, 'u1'], [7, 'u1']]) }
}

function mustRefuseOrHarmless(name: string, server: Y.Doc, user: typeof u1, update: Uint8Array, owners: Owners, harmful: (reloaded: Y.Doc) => boolean) {
  assert.ok(harmful(reload(Y.encodeStateAsUpdate(server), update)), `the attack works without the guard: ${describeUpdate(update)}`)
  const { verdict, truth, broken, reloaded } = verdictAndTruth(name, server, user, update, owners)
  if (verdict.reason !== null) return
  assert.ok(!harmful(reloaded()), explain(update, null))
  assert.equal(broken, [], explain(update, null))
  assert.is(truth.divergence, null, explain(update, null, `; memory and storage differ: ${truth.divergence}`))
}

test('found: a deleted-content struct as the new value of an insert-only key removes the value (activity/u1 may only be set)', () => {
  const { server, ids, owners } = classWithActivity()
  const update = encodeBlocks({ blocks: [{ client: 7, clock: 0, structs: [{ origin: ids.current, content: { deleted: 1 } }] }], deletes: [] })
  mustRefuseOrHarmless('s1/class/7a', server, { ...u1, classes: ['7a'] }, update, owners, (d) => !d.getMap('activity').has('u1'))
})

test('found: a new value placed left of the current one (older origin or none, lower client id) plus a delete of the current value removes an insert-only key', () => {
  for (const placement of ['older origin', 'no origin'] as const) {
    const { server, ids, owners } = classWithActivity()
    const struct = placement === 'older origin' ? { origin: ids.older } : { parent: 'activity', parentSub: 'u1' }
    const update = encodeBlocks({
      blocks: [{ client: 7, clock: 0, structs: [{ ...struct, content: { any: [{ state: 'away', at: 3 }] } }] }],
      deletes: [{ client: ids.current[0], clock: ids.current[1], len: 1 }],
    })
    mustRefuseOrHarmless('s1/class/7a', server, { ...u1, classes: ['7a'] }, update, owners, (d) => !d.getMap('activity').has('u1'))
  }
})

test('found: a struct whose origin and right origin are the same item lands right of it in memory and left of it after storage merges the deleted neighbours', () => {
  const server = serverDoc(1)
  const driver = serverDoc(600)
  const fix = (n: number) => ({ lat: 1, lng: 2, speed: n, heading: 0, at: 1000 + n })
  driver.getMap('position').set('now', fix(1))
  send(server, driver)
  driver.getMap('position').set('now', fix(2))
  send(server, driver)
  const current = server.getMap('position')._map.get('now')!.id
  const d1 = person('d1', 'driver', { buses: ['b1'] })
  const update = encodeBlocks({ blocks: [{ client: 9000, clock: 0, structs: [{ origin: [current.client, current.clock], rightOrigin: [current.client, current.clock], content: { any: [fix(3)] } }] }], deletes: [] })
  // In memory the new fix is the position; storage gives back no position at all.
  mustRefuseOrHarmless('s1/bus/b1', server, d1, update, ownersOf([[1, SERVER_OWNER], [600, 'd1'], [9000, 'd1']]), (d) => !d.getMap('position').has('now'))
})

test("found: an honest attribute set on a paragraph someone deleted meanwhile is refused as 'not a type' (Yjs ignores it; the offline client can never sync)", () => {
  const name = 's1/doc/d1'
  const server = serverDoc(1)
  server.getXmlFragment('body').insert(0, [new Y.XmlElement('paragraph')])
  const student = serverDoc(700)
  Y.applyUpdate(student, Y.encodeStateAsUpdate(server))
  const teacher = serverDoc(800)
  Y.applyUpdate(teacher, Y.encodeStateAsUpdate(server))
  teacher.getXmlFragment('body').delete(0, 1)
  send(server, teacher)
  ;(student.getXmlFragment('body').get(0) as Y.XmlElement).setAttribute('align', 'center')
  const update = Y.encodeStateAsUpdate(student, Y.encodeStateVector(server))
  const { verdict, broken } = verdictAndTruth(name, server, u1, update, ownersOf([[1, SERVER_OWNER], [800, 't1']]))
  assert.is(verdict.reason, null, explain(update, verdict.reason))
  assert.equal(broken, [])
})

test("found: on a document loaded from storage, a rule that reads a root (mapOf -> getMap) retypes it during the check, and the student's honest submit is refused", () => {
  const name = 's1/exam/e2/student/u1'
  const { ref, surface } = resolve(name)
  const before = serverDoc(1)
  before.getMap('status').set('state', 'in_progress')
  // Loaded from storage: its roots are untyped until someone asks for them by kind.
  const server = serverDoc(2)
  Y.applyUpdate(server, Y.encodeStateAsUpdate(before))
  const student = serverDoc(900)
  Y.applyUpdate(student, Y.encodeStateAsUpdate(server))
  student.getMap('status').set('state', 'submitted')
  const update = Y.encodeStateAsUpdate(student, Y.encodeStateVector(server))
  const exam = new Y.Doc()
  exam.getMap('meta').set('status', 'open')
  const facts = { frozen: () => null, related: () => exam }
  const verdict = inspectUpdate(update, surface, writeContext(u1, ref, server, facts), { owners: ownersOf([[1, SERVER_OWNER], [2, SERVER_OWNER]]), limits: LIMITS })
  assert.is(verdict.reason, null, explain(update, verdict.reason))
})

test('reason buckets are free of ids and clocks', () => {
  assert.is(reasonPrefix('forbidden-write: client id 123 belongs to another user'), 'forbidden-write: client id # belongs to another user')
  assert.is(reasonPrefix('forbidden-write: tallies/0'), 'forbidden-write: <path>')
  assert.is(reasonPrefix('forbidden-write: messages (not yours to delete)'), 'forbidden-write: <path> (not yours to delete)')
})

console.log(`guard differential: seed ${SEED}, ${ONLY_CASE === undefined ? `${CASES} cases` : `case ${ONLY_CASE}`} of up to ${STEPS} steps per surface, limits ${JSON.stringify(LIMITS)}`)

for (const scenario of SCENARIOS) {
  const { surface } = resolve(scenario.name)
  if (ONLY_SURFACE && ONLY_SURFACE !== scenario.name && ONLY_SURFACE !== surface.key) continue
  test(`differential: ${scenario.name} (${surface.key})`, () => {
    const stats = newStats()
    const failures: Failure[] = []
    const cases = ONLY_CASE === undefined ? Array.from({ length: CASES }, (_, i) => i) : [ONLY_CASE]
    for (const i of cases) failures.push(...runCase(scenario, SEED, i, STEPS, stats))
    console.log(`\n${summary(scenario.name, surface.key, stats)}`)
    if (failures.length > 0) {
      const byKind = new Map<string, Failure[]>()
      for (const f of failures) byKind.set(f.kind, [...(byKind.get(f.kind) ?? []), f])
      const report: string[] = []
      for (const [kind, list] of byKind) {
        const smallest = [...list].sort((a, b) => (a.minimal ?? a.update).length - (b.minimal ?? b.update).length)[0]
        report.push(`${list.length} case(s) fail with "${kind}" (cases ${list.map((f) => f.caseIndex).join(', ')}); the smallest:\n${describeFailure(smallest, replayCommand(smallest))}`)
      }
      console.log(report.join('\n\n'))
      assert.unreachable(`${failures.length} of ${cases.length} cases fail on ${scenario.name}: ${[...byKind.keys()].join('; ')} (details above; first replay: ${replayCommand(failures[0])})`)
    }
    if (ONLY_CASE === undefined && stats.cases > 0) {
      const refused = [...stats.hostileRefused.values()].reduce((a, b) => a + b, 0)
      assert.ok(refused > 0, 'the generator makes updates the guard refuses')
      if (scenario.honest.length > 0) assert.ok(stats.honestAccepted > 0, 'honest edits are made and accepted')
    }
  })
}

test.run()
