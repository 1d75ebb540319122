// Polls across instances: students voting on three instances that share PostgreSQL and Redis;
// the tallies every instance derives agree with all ballots, and all agree on the close.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { closeClients, connect, DEADLINE_MS, within, type Client } from './helpers/clients.ts'
import { startTestCluster } from './helpers/cluster.ts'
import { mintToken } from './helpers/tokens.ts'
import { classTeacher, createPoll, mapEquals, students } from './helpers/classroom.ts'
import { vote } from '../docs-model/surfaces/poll/surface.ts'
import type { Claims } from '../server/identity.ts'

const cluster = await startTestCluster('pollcluster', 3)

if (cluster) {
  test.after.each(closeClients)
  test.after(() => cluster.stop())

  const open = async (instance: number, name: string, claims: Claims): Promise<Client> => {
    const client = connect(cluster.instances[instance].url, name, await mintToken(claims))
    await within(client.synced, DEADLINE_MS, `sync of ${name} on instance ${instance}`)
    return client
  }

  test('thirty students voting on three instances: every watcher sees the tallies of all ballots', async () => {
    // Open until the teacher closes it: a loaded machine may take any time to get thirty votes in.
    const teacher = await open(0, 's1/poll/cl', classTeacher())
    await createPoll(teacher, { options: ['a', 'b', 'c'] })
    const watchers = [teacher, await open(1, 's1/poll/cl', classTeacher('t2')), await open(2, 's1/poll/cl', classTeacher('t3'))]
    const voters = await Promise.all(students(30).map((claims, i) => open(i % 3, `s1/poll/cl/ballot/${claims.sub}`, claims)))
    voters.forEach((voter, i) => vote(voter.doc, i % 3))
    for (const watcher of watchers) await mapEquals(watcher.doc, 'tallies', { 0: 10, 1: 10, 2: 10 }, DEADLINE_MS)
    for (const voter of voters.slice(0, 3)) vote(voter.doc, 0)
    for (const watcher of watchers) await mapEquals(watcher.doc, 'tallies', { 0: 12, 1: 9, 2: 9 }, DEADLINE_MS)

    const closesAt = Date.now() + 500
    teacher.doc.getMap('meta').set('closesAt', closesAt)
    for (const watcher of watchers) await mapEquals(watcher.doc, 'results', { closedAt: closesAt, total: 30 }, DEADLINE_MS)
    assert.ok(Date.now() >= closesAt)
  })
}

test.run()
