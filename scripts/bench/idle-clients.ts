// A load-generator process for `connections.ts`: opens `count` WebSocket connections, each one
// authenticated provider connection to one document, speaking the Hocuspocus protocol by hand
// (token, then sync step 1) so that thousands fit in one client process. Reports `ready` over
// IPC once every connection is authenticated and synced, then stays idle until told to stop.
// Arguments: url, first user index, count, documents.
import WebSocket from 'ws'
import * as decoding from 'lib0/decoding'
import * as encoding from 'lib0/encoding'
import { mintToken, student } from '../../test/helpers/tokens.ts'

const [url, firstArg, countArg, docsArg] = process.argv.slice(2)
const first = Number(firstArg)
const count = Number(countArg)
const docs = Number(docsArg)
// Hocuspocus message types (MessageType) and the sub-types used here.
const SYNC = 0
const AUTH = 2
const TOKEN = 0
const AUTHENTICATED = 2
const SYNC_STEP_1 = 0
const SYNC_STEP_2 = 1

function frame(name: string, write: (encoder: encoding.Encoder) => void): Uint8Array {
  const encoder = encoding.createEncoder()
  encoding.writeVarString(encoder, name)
  write(encoder)
  return encoding.toUint8Array(encoder)
}

/** Resolves once the server authenticated the connection and sent the document's state. */
function open(user: number, token: string): Promise<WebSocket> {
  const name = `s1/doc/d${user % docs}`
  const ws = new WebSocket(url)
  return new Promise((resolve, reject) => {
    let authenticated = false
    ws.on('error', reject)
    ws.on('open', () => {
      ws.send(frame(name, (e) => { encoding.writeVarUint(e, AUTH); encoding.writeVarUint(e, TOKEN); encoding.writeVarString(e, token) }))
      // An empty state vector: "send me everything".
      ws.send(syncStep1(name))
      names.set(ws, name)
    })
    ws.on('message', (data: Buffer) => {
      const decoder = decoding.createDecoder(new Uint8Array(data))
      decoding.readVarString(decoder)
      const type = decoding.readVarUint(decoder)
      const sub = decoding.hasContent(decoder) ? decoding.readVarUint(decoder) : -1
      if (type === AUTH && sub === AUTHENTICATED) authenticated = true
      else if (type === AUTH) reject(new Error(`user u${user} refused: ${decoding.readVarString(decoder)}`))
      if (authenticated && type === SYNC && sub === SYNC_STEP_2) resolve(ws)
    })
  })
}

const syncStep1 = (name: string) => frame(name, (e) => { encoding.writeVarUint(e, SYNC); encoding.writeVarUint(e, SYNC_STEP_1); encoding.writeVarUint8Array(e, new Uint8Array([0])) })
const sockets: WebSocket[] = []
const names = new Map<WebSocket, string>()
for (let i = 0; i < count; i += 250) {
  const batch = Array.from({ length: Math.min(250, count - i) }, (_, j) => first + i + j)
  const tokens = await Promise.all(batch.map((user) => mintToken(student(`u${user}`, { classes: ['7a'] }), { ttl: '8h' })))
  sockets.push(...(await Promise.all(batch.map((user, j) => open(user, tokens[j])))))
}
// Bare Hocuspocus closes a socket silent for 60 s; a provider's awareness renewal (every 15 s) is what keeps it open. This is that renewal's stand-in.
setInterval(() => {
  for (const ws of sockets) ws.send(syncStep1(names.get(ws)!))
}, 15_000)
process.send!({ ready: sockets.length })
process.on('message', () => {
  for (const ws of sockets) ws.terminate()
  process.exit(0)
})
