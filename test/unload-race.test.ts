// Reopening a class document while it unloads. A student's last disconnect makes the classroom
// observer write (`away`) through a direct connection, which loads and unloads the document
// itself; students reconnecting meanwhile must never leave a document that is neither registered
// nor destroyed (its awareness timer would keep the process alive and its memory never freed),
// nor a registered document that nobody uses once everyone has left.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import type { afterLoadDocumentPayload, Document, Extension } from '@hocuspocus/server'
import { useServer } from './helpers/server.ts'
import { closeClients, connect, DEADLINE_MS, until, within, type Client } from './helpers/clients.ts'
import { mintToken } from './helpers/tokens.ts'
import { students } from './helpers/classroom.ts'
import { serverWrite } from '../server/writes.ts'
import { reportActivity } from '../docs-model/surfaces/class/surface.ts'

const NAME = 's1/class/7a'
const ROUNDS = Number(process.env.UNLOAD_RACE_ROUNDS ?? 200)

/** Every document Hocuspocus finished loading, to check that each one ended registered or destroyed. */
const loaded: Document[] = []
const tracker: Extension = {
  extensionName: 'test-loaded-documents',
  async afterLoadDocument({ document }: afterLoadDocumentPayload) {
    loaded.push(document)
  },
}

// A leaked document's awareness timer would keep this process alive after a failure: destroyed
// before the server fixture stops the server (after hooks run in the order they are added).
test.after(() => {
  for (const doc of orphans()) doc.destroy()
})
const server = useServer({}, { extensions: [tracker] })
test.before(async () => {
  await server.app.store.putRoster('s1', students(3).map((s) => ({ id: s.sub, name: s.sub, role: 'student', classes: ['7a'] })))
})
test.after.each(closeClients)

const timeouts = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** Orphans: loaded documents that are neither the registered one nor destroyed. */
function orphans(): Document[] {
  const { documents } = server.app.hocuspocus
  return loaded.filter((doc) => !doc.isDestroyed && documents.get(doc.name) !== doc)
}

test('students leaving and rejoining while the class document unloads leave nothing behind', async () => {
  const hocuspocus = server.app.hocuspocus
  const before = timeouts()
  const [u1, u2] = students(2)
  const tokens = [await mintToken(u1), await mintToken(u2)]
  const subs = [u1.sub, u2.sub]
  const errors: unknown[] = []

  for (let round = 0; round < ROUNDS; round++) {
    const index = round % 2
    const client: Client = connect(server.url, NAME, tokens[index])
    await within(client.synced, DEADLINE_MS, `sync in round ${round}`)
    reportActivity(client.doc, subs[index], 'active', { page: `/p${round}` })
    await client.acknowledged()
    // The last disconnect: the observer marks the student away while Hocuspocus unloads.
    client.destroy()
    // Another server write racing the unload, and a student coming straight back.
    const write = serverWrite(hocuspocus, NAME, (doc) => doc.getMap('notes').set('round', round)).catch((error) => errors.push(error))
    if (round % 3 === 0) await sleep(round % 7)
    const back = connect(server.url, NAME, tokens[1 - index])
    await within(back.synced, DEADLINE_MS, `resync in round ${round}`)
    back.destroy()
    await write
    if (round % 4 === 0) await sleep((round * 3) % 11)
  }

  // Everyone has left: the document unloads and nothing is left of any of its generations. A
  // timeout here is no failure by itself: the assertions below say what was left.
  const settled = () =>
    hocuspocus.documents.size === 0 && hocuspocus.loadingDocuments.size === 0 && hocuspocus.unloadingDocuments.size === 0 && orphans().length === 0 && timeouts() <= before
  await until(settled, { what: 'the class document to unload and its timers to stop' }).catch(() => {})
  assert.equal(errors, [], 'server writes succeed')
  assert.ok(loaded.length > 1, 'the document was loaded again after unloading')
  const left = orphans()
  assert.is(left.length, 0, `${left.length} of ${loaded.length} loaded documents are neither registered nor destroyed`)
  assert.is(hocuspocus.documents.size, 0, `documents still registered: ${[...hocuspocus.documents.keys()]}`)
  assert.is(hocuspocus.loadingDocuments.size, 0, 'nothing is loading')
  assert.is(hocuspocus.unloadingDocuments.size, 0, 'nothing is unloading')
  assert.ok(timeouts() <= before, `timers left running: ${timeouts()} now, ${before} before`)
})

test.run()
