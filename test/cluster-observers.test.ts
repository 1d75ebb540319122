// Observers across three instances that all hold the same documents: an exam closes once (every
// client sees open then closed, never a reopening, and one consistent grading and leaderboard);
// an emergency is announced once and escalates once (one status step, one inbox item per admin,
// one webhook). Derived document writes are made by one instance at a time (writer leases), so
// a value the first wrote is not written again; side effects outside documents happen once.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import * as Y from 'yjs'
import { closeClients, connect, DEADLINE_MS, open, until, within, type Client } from './helpers/clients.ts'
import { startTestCluster, valuesWritten as written } from './helpers/cluster.ts'
import { webhookReceiver } from './helpers/safety.ts'
import { admin, mintToken, student, teacher } from './helpers/tokens.ts'

const receiver = await webhookReceiver()
const cluster = await startTestCluster('observers', 3, {
  env: { EMERGENCY_ESCALATE_AFTER_S: '2', EMERGENCY_MAX_ESCALATIONS: '1', ALERT_WEBHOOK_URL: receiver.url, ALERT_WEBHOOK_SECRET: 'cluster-webhook-secret' },
})

const valuesWritten = (doc: string, key: string) => written(cluster!.db.url, doc, key)

const STUDENTS = ['u0', 'u1', 'u2', 'u3', 'u4', 'u5']

if (cluster) {
  test.after.each(closeClients)
  test.after(async () => {
    await cluster.stop()
    await receiver.close()
  })

  const at = (i: number) => cluster.instances[i % 3]
  test.before(async () => {
    const roster = [
      { id: 't1', name: 'Tess', role: 'teacher' },
      { id: 'a1', name: 'Ada', role: 'admin' },
      ...STUDENTS.map((id) => ({ id, name: `Student ${id}`, role: 'student' })),
    ]
    const response = await fetch(`${at(0).http}/api/v1/schools/s1/roster`, {
      method: 'PUT',
      headers: { Authorization: `Bearer ${await mintToken(admin())}`, 'Content-Type': 'application/json' },
      body: JSON.stringify(roster),
    })
    assert.is(response.status, 200)
  })

  test('an exam held on three instances closes once, with one consistent grading', async () => {
    const KEY = [2, 0, 1]
    const t = await mintToken(teacher('t1'))
    const examDoc = connect(at(0).url, 's1/exam/e1', t)
    const keyDoc = connect(at(0).url, 's1/exam/e1/key', t)
    await within(Promise.all([examDoc.synced, keyDoc.synced]), DEADLINE_MS, 'teacher sync')
    keyDoc.doc.transact(() => KEY.forEach((c, q) => keyDoc.doc.getMap('key').set(String(q), c)))
    await keyDoc.acknowledged()
    examDoc.doc.transact(() => {
      KEY.forEach((_, q) => examDoc.doc.getArray('questions').push([{ prompt: `Q${q}`, choices: ['a', 'b', 'c'] }]))
      examDoc.doc.getMap('meta').set('title', 'Cluster quiz')
      examDoc.doc.getMap('meta').set('startsAt', new Date(Date.now() + 1000).toISOString())
      examDoc.doc.getMap('meta').set('durationSec', 3)
      examDoc.doc.getMap('meta').set('leaderboard', true)
    })
    await examDoc.acknowledged()
    // Every instance holds the exam (and arms its deadlines): students sit on all three.
    const sitters: Array<{ exam: Client; own: Client }> = []
    for (const [i, id] of STUDENTS.entries()) {
      const token = await mintToken(student(id))
      sitters.push({ exam: connect(at(i).url, 's1/exam/e1', token), own: connect(at(i).url, `s1/exam/e1/student/${id}`, token) })
    }
    await within(Promise.all(sitters.flatMap((s) => [s.exam.synced, s.own.synced])), DEADLINE_MS, 'students sync')
    // Each client's sequence of distinct status values, as its user would see them change.
    const seen = sitters.map((s) => {
      const meta = s.exam.doc.getMap('meta')
      const values: unknown[] = [meta.get('status')]
      meta.observe(() => {
        if (meta.get('status') !== values.at(-1)) values.push(meta.get('status'))
      })
      return values
    })
    await until(() => sitters.every((s) => s.exam.doc.getMap('meta').get('status') === 'open'), { what: 'exam open on every instance' })
    for (const [i, s] of sitters.entries()) {
      s.own.doc.transact(() => KEY.forEach((c, q) => s.own.doc.getMap('answers').set(String(q), q < i % 4 ? c : (c + 1) % 3)))
      await s.own.acknowledged()
    }
    await until(() => sitters.every((s) => s.exam.doc.getMap('meta').get('status') === 'closed'), { what: 'exam closed on every instance' })
    const results = await Promise.all(STUDENTS.map((id, i) => open(at(i), `s1/exam/e1/result/${id}`, student(id))))
    await until(() => results.every((r) => r.doc.getMap('result').get('score') !== undefined), { what: 'every student graded' })
    for (const [i, r] of results.entries()) assert.is(r.doc.getMap('result').get('score'), Math.min(i % 4, KEY.length), `score of ${STUDENTS[i]}`)
    for (const values of seen) assert.equal(values.filter((v) => v !== 'scheduled'), ['open', 'closed'], 'opened once, closed once, never reopened')
    const board = connect(at(2).url, 's1/leaderboard/exam-e1', await mintToken(student('u0')))
    await within(board.synced, DEADLINE_MS, 'leaderboard')
    await until(() => board.doc.getMap('entries').size === STUDENTS.length, { what: 'leaderboard complete' })
    for (const [i, id] of STUDENTS.entries()) assert.is((board.doc.getMap('entries').get(id) as { score: number }).score, Math.min(i % 4, KEY.length))
    // Every instance grades what it sees, one at a time under the result's writer lease: whoever
    // comes second finds the score written, so the journal holds it once.
    for (const id of STUDENTS) {
      const scores = await valuesWritten(`s1/exam/e1/result/${id}`, 'score')
      assert.is(scores.length, 1, `scores written for ${id}: ${scores}`)
    }
  })

  test('an emergency watched on three instances is announced once and escalates once', async () => {
    const response = await fetch(`${at(0).http}/api/v1/schools/s1/emergencies`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${await mintToken(admin('a1'))}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ title: 'Lockdown drill', message: 'Stay in your classroom', level: 'warning', targetRoles: ['student'] }),
    })
    assert.is(response.status, 201)
    const { document } = (await response.json()) as { document: string }
    // Admins watch the emergency from every instance, so all three observe it and arm escalation.
    const admins = await Promise.all([0, 1, 2].map(async (i) => connect(at(i).url, document, await mintToken(admin('a1')))))
    await within(Promise.all(admins.map((c) => c.synced)), DEADLINE_MS, 'admins sync')
    const escalations = (c: Client) => c.doc.getMap('status').get('escalations')
    await until(() => admins.every((c) => escalations(c) === 1), { what: 'one escalation seen everywhere' })
    await until(() => receiver.deliveries.some((d) => d.body?.escalation === 1), { what: 'escalation webhook' })
    // Give a duplicate (late timer on another instance) time to show up before counting.
    await new Promise((r) => setTimeout(r, 1500))
    assert.is(receiver.deliveries.filter((d) => d.body?.escalation === 1).length, 1, 'one webhook')
    const steps = await valuesWritten(document, 'escalations')
    assert.equal([...new Set(steps)], [0, 1], `escalation steps written: ${steps}`)
    const inbox = connect(at(2).url, 's1/inbox/a1', await mintToken(admin('a1')))
    await within(inbox.synced, DEADLINE_MS, 'admin inbox')
    const items = [...inbox.doc.getMap('items').values()] as Array<{ type: string }>
    assert.is(items.filter((i) => i.type === 'emergency-escalation').length, 1, 'one escalation item')
    for (const [i, id] of STUDENTS.entries()) {
      const own = connect(at(i).url, `s1/inbox/${id}`, await mintToken(student(id)))
      await within(own.synced, DEADLINE_MS, `inbox of ${id}`)
      assert.is(([...own.doc.getMap('items').values()] as Array<{ type: string }>).filter((x) => x.type === 'emergency').length, 1, `one announcement for ${id}`)
    }
  })

  test.run()
} else {
  await receiver.close()
}
