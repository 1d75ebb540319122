// Every acknowledged update survives `kill -9`: the journal is written before the acknowledgement.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { rmSync } from 'node:fs'
import { startServerProcess, tempDir } from './helpers/server.ts'
import { closeClients, connect, DEADLINE_MS, within } from './helpers/clients.ts'
import { mintToken, teacher } from './helpers/tokens.ts'

const DOCS = 20
const UPDATES = 30

test.after.each(closeClients)

test('acknowledged updates across many documents survive SIGKILL and a restart', async () => {
  const dataDir = tempDir()
  const token = await mintToken(teacher())
  const first = await startServerProcess(dataDir)
  try {
    const clients = Array.from({ length: DOCS }, (_, d) => connect(first.url, `s1/doc/d${d}`, token))
    await within(Promise.all(clients.map((c) => c.synced)), DEADLINE_MS, 'initial sync')
    for (let i = 0; i < UPDATES; i++) {
      for (const [d, client] of clients.entries()) client.doc.getMap('meta').set(`k${i}`, `doc${d}-v${i}`)
    }
    await within(Promise.all(clients.map((c) => c.acknowledged())), DEADLINE_MS, 'acknowledgements')
    first.child.kill('SIGKILL')
    await first.exited
    for (const client of clients) client.destroy()

    const second = await startServerProcess(dataDir)
    try {
      const readers = Array.from({ length: DOCS }, (_, d) => connect(second.url, `s1/doc/d${d}`, token))
      await within(Promise.all(readers.map((c) => c.synced)), DEADLINE_MS, 'sync after restart')
      for (const [d, reader] of readers.entries()) {
        const meta = reader.doc.getMap('meta')
        for (let i = 0; i < UPDATES; i++) assert.is(meta.get(`k${i}`), `doc${d}-v${i}`, `doc ${d} update ${i}`)
      }
    } finally {
      second.child.kill('SIGTERM')
      assert.is(await second.exited, 0, 'graceful shutdown exits 0')
    }
  } finally {
    first.child.kill('SIGKILL')
    rmSync(dataDir, { recursive: true, force: true })
  }
})

test.run()
