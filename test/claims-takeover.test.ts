// A fan-out survives the death of the instance doing it: two instances share PostgreSQL and
// Redis; an emergency for a large school is announced by the first, which is killed with SIGKILL
// part way through its recipients. The second takes the abandoned claim over once its lease ran
// out and delivers the rest: every student's inbox holds the announcement, each written to the
// journal exactly once, the claim ends done by the second instance, and emergency.created (which
// the claim carries) is in the outbound stream.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { Redis } from 'ioredis'
import { until } from './helpers/clients.ts'
import { startTestCluster, valuesWrittenIn } from './helpers/cluster.ts'
import { sql } from './helpers/services.ts'
import { admin, mintToken } from './helpers/tokens.ts'

/** Enough recipients that the first instance is still delivering when the test sees its first batch saved. */
const STUDENTS = Array.from({ length: 1200 }, (_, i) => `u${i}`)

const cluster = await startTestCluster('takeover', 2, { env: { CLAIMS_LEASE_MS: '1500' } })

interface ClaimRow {
  owner: string
  progress: number
  done_at: number | null
}

if (cluster) {
  test.after(() => cluster.stop())
  const [first, second] = cluster.instances
  const claimOf = async (key: string): Promise<ClaimRow | undefined> => (await sql<ClaimRow>(cluster.db.url, 'SELECT owner, progress, done_at FROM claims WHERE key = $1', [key]))[0]

  test('an instance killed mid fan-out: another resumes it, and every recipient gets the item exactly once', async () => {
    const token = await mintToken(admin('a1'))
    const roster = [{ id: 'a1', name: 'Ada', role: 'admin' }, ...STUDENTS.map((id) => ({ id, name: `Student ${id}`, role: 'student' }))]
    const put = await fetch(`${first.http}/api/v1/schools/s1/roster`, { method: 'PUT', headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' }, body: JSON.stringify(roster) })
    assert.is(put.status, 200, await put.text())
    const response = await fetch(`${first.http}/api/v1/schools/s1/emergencies`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ title: 'Fire drill', message: 'Leave by the east stairs', level: 'warning', targetRoles: ['student'] }),
    })
    assert.is(response.status, 201)
    const { document } = (await response.json()) as { document: string }
    const key = `emergency:${document}:announce`
    const itemId = `emergency:${document.split('/').at(-1)}`

    await until(async () => ((await claimOf(key))?.progress ?? 0) > 0, { what: 'the first batch delivered and saved' })
    await cluster.kill(0)
    const killed = (await claimOf(key))!
    assert.is(killed.done_at, null, `the fan-out was still under way when its instance died (${killed.progress} of ${STUDENTS.length} saved)`)
    assert.ok(killed.progress < STUDENTS.length)

    await until(async () => (await claimOf(key))?.done_at != null, { timeout: 120_000, what: 'the second instance to finish the fan-out' })
    const done = (await claimOf(key))!
    // Finished by the survivor. (On a loaded machine it may have taken the claim over already before
    // the kill, when the first instance missed renewing its lease: a takeover all the same.)
    assert.ok(done.owner.startsWith('takeover-2-'), `finished by the second instance, not ${done.owner}`)

    const written = await valuesWrittenIn(cluster.db.url, 's1/inbox/%', itemId)
    const counts = STUDENTS.map((id) => written.get(`s1/inbox/${id}`)?.length ?? 0)
    assert.equal(counts.filter((n) => n === 0).length, 0, 'no recipient missed')
    assert.equal(counts.filter((n) => n > 1).length, 0, 'no recipient written twice')
    assert.ok(second.child.exitCode === null, 'the second instance still serves')
    // The claim was finished only once its event was in the outbound stream (its dedup key set with the entry).
    const redis = new Redis(cluster.redisUrl)
    try {
      assert.is(await redis.exists(`${cluster.prefix}event-out:emergency.created:${document}`), 1, 'emergency.created published')
    } finally {
      redis.disconnect()
    }
  })

  test.run()
}
