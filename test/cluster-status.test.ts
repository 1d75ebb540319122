// `s/system/status` shows the whole cluster: an admin watching it on one instance sees both
// instances alive with their last heartbeats, and the connections and documents of the other
// instance in the totals; once that instance is killed it is shown as not alive and left out
// of the totals.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { closeClients, connect, DEADLINE_MS, until, within, type Client } from './helpers/clients.ts'
import { startTestCluster } from './helpers/cluster.ts'
import { admin, mintToken, student } from './helpers/tokens.ts'
import type { InstanceStatus } from '../docs-model/surfaces/system/state.ts'

/** Short heartbeats: an instance that died is left out after three of them. */
const HEARTBEAT_INTERVAL_MS = 400
const cluster = await startTestCluster('status', 2, { env: { HEARTBEAT_INTERVAL_MS: String(HEARTBEAT_INTERVAL_MS) } })

if (cluster) {
  test.after.each(closeClients)
  test.after(() => cluster.stop())
  const [first, second] = cluster.instances

  test('the status counts every instance, and one that died stops counting', async () => {
    const watcher = connect(first.url, 's1/system/status', await mintToken(admin('a1')))
    await within(watcher.synced, DEADLINE_MS, 'status sync')
    // Five students on the second instance, each on a socket and a document of their own.
    const students: Client[] = []
    for (let i = 0; i < 5; i++) students.push(connect(second.url, `s1/doc/status-${i}`, await mintToken(student(`u${i}`))))
    await within(Promise.all(students.map((s) => s.synced)), DEADLINE_MS, 'students sync')
    const now = () => watcher.doc.getMap('now').toJSON() as { connections?: number; documents?: number; instances?: number; at?: number }
    const instances = () => watcher.doc.getMap('instances').toJSON() as Record<string, InstanceStatus>
    // Figures travel with heartbeats, so this may take two of them.
    await until(() => now().instances === 2 && (now().connections ?? 0) >= 6 && (now().documents ?? 0) >= 6, { what: `both instances counted (${JSON.stringify(now())})` })
    const shown = instances()
    assert.equal(Object.keys(shown).sort(), ['status-1', 'status-2'])
    assert.ok(shown['status-1'].alive && shown['status-2'].alive)
    assert.ok(shown['status-2'].connections >= 5, `the second instance's own connections: ${shown['status-2'].connections}`)
    assert.ok(shown['status-2'].documents >= 5)
    // A heartbeat of this run (how recent depends on the machine's load, not on the code).
    assert.ok(Math.abs(shown['status-1'].lastHeartbeat - Date.now()) < DEADLINE_MS, 'a recent heartbeat')
    assert.is(now().connections, shown['status-1'].connections + shown['status-2'].connections, 'the total is the sum')

    for (const s of students) s.provider.destroy()
    const lastBeat = shown['status-2'].lastHeartbeat
    await cluster.kill(1)
    await until(() => instances()['status-2']?.alive === false, { what: 'the killed instance shown as not alive' })
    assert.is(now().instances, 1)
    assert.is(now().connections, instances()['status-1'].connections, 'only the live instance counts')
    assert.ok(instances()['status-2'].lastHeartbeat >= lastBeat, 'its last heartbeat is kept')
  })

  test.run()
}
