// The exam monitor's `online` across instances (extensions/redis/online.ts): a student is
// online while some instance holds their connection to their sheet. An instance that wakes from
// a pause and closes a socket the student gave up does not write them offline while they are
// connected to another; a student whose instance was killed (no disconnect hook ran anywhere) is
// written offline by a survivor once that instance's record ran out. The chaos run found
// students left `online: true` after a kill and a pause.
import { randomBytes } from 'node:crypto'
import { Redis } from 'ioredis'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { closeClients, connect, DEADLINE_MS, until, within, type Client } from './helpers/clients.ts'
import { openExam } from './helpers/classroom.ts'
import { startTestCluster } from './helpers/cluster.ts'
import { holdings } from '../scripts/chaos/metrics.ts'
import { admin, mintToken, student, teacher } from './helpers/tokens.ts'

const PREFIX = `exam-online-${randomBytes(4).toString('hex')}:`
const cluster = await startTestCluster('exam-online', 2, { env: { REDIS_KEY_PREFIX: PREFIX } })
const sheet = (user: string) => `s1/exam/e1/student/${user}`

if (cluster) {
  const redis = new Redis(cluster.redisUrl)
  test.after(async () => {
    closeClients()
    redis.disconnect()
    await cluster.stop()
  })

  let monitor: Client
  const entry = (user: string) => monitor.doc.getMap('students').get(user) as { online?: boolean } | undefined

  test.before(async () => {
    const [first] = cluster.instances
    const roster = [{ id: 't1', name: 'Tess', role: 'teacher' }, ...['u1', 'u2', 'u3'].map((id) => ({ id, name: id, role: 'student' }))]
    const put = await fetch(`${first.http}/api/v1/schools/s1/roster`, {
      method: 'PUT',
      headers: { Authorization: `Bearer ${await mintToken(admin())}`, 'Content-Type': 'application/json' },
      body: JSON.stringify(roster),
    })
    assert.is(put.status, 200)
    await openExam(first.url, 's1/exam/e1')
    // The monitor is watched from the second instance, which survives everything below.
    monitor = connect(cluster.instances[1].url, 's1/exam/e1/monitor', await mintToken(teacher('t1')))
    await within(monitor.synced, DEADLINE_MS, 'monitor sync')
  })

  async function sit(index: number, user: string): Promise<Client> {
    const client = connect(cluster!.instances[index].url, sheet(user), await mintToken(student(user)))
    await within(client.synced, DEADLINE_MS, `${user}'s sheet on instance ${index + 1}`)
    return client
  }

  test('an instance waking from a pause does not write offline a student now connected elsewhere', async () => {
    const paused = cluster.instances[0]
    const before = await sit(0, 'u2')
    await until(() => entry('u2')?.online === true, { what: 'u2 online' })
    paused.child.kill('SIGSTOP')
    try {
      // The student gives the paused instance up and comes back on the other one.
      before.destroy()
      await sit(1, 'u2')
      const second = 'exam-online-2-'
      await until(async () => (await redis.zrange(`${PREFIX}online:${sheet('u2')}`, 0, -1)).some((owner) => owner.startsWith(second)), { what: 'the second instance to record u2' })
    } finally {
      paused.child.kill('SIGCONT')
    }
    // Woken, the first instance closes the given-up socket and unloads the sheet, then writes u3:
    // its monitor writes are in order, so once u3 shows, what it made of u2's leaving is written too.
    await until(async () => (await holdings(paused.http)).documents === 0, { what: 'the woken instance to unload the sheet' })
    await sit(0, 'u3')
    await until(() => entry('u3')?.online === true, { what: 'u3 online' })
    assert.is(entry('u2')?.online, true, 'u2 is still connected, to the second instance')
  })

  test('a student whose instance is killed is written offline once its record runs out', async () => {
    await sit(0, 'u1')
    await until(() => entry('u1')?.online === true, { what: 'u1 online' })
    await cluster.kill(0)
    await until(() => entry('u1')?.online === false && entry('u3')?.online === false, { what: 'u1 and u3 offline' })
    assert.is(entry('u2')?.online, true, 'u2 on the surviving instance stays online')
  })
}

test.run()
