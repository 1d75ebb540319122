// A load-generator process for `schoolday.ts`: classes `first`..`first+count-1`, each with a
// teacher and STUDENTS students, over Hocuspocus (`hocuspocus`: Homeroom or bare, the protocol
// spoken by hand so thousands of users fit in one process) or Socket.IO rooms (`socketio`). The
// same Yjs updates travel either way. Per class: TYPISTS students type into the class document,
// one chat message every CHAT_EVERY_MS, every student votes once in the class poll, reports its
// activity once and refreshes its presence every PRESENCE_EVERY_MS; the teacher holds the class
// document, chat, classroom and poll and applies what arrives, which is where fan-out latency
// (send → seen by the teacher) is measured.
// Arguments: transport, url, first class, class count, run seconds. IPC: `ready`, then `{ go }`,
// then the latencies and the users once the run is over.
import WebSocket from 'ws'
import { io, type Socket } from 'socket.io-client'
import * as decoding from 'lib0/decoding'
import * as encoding from 'lib0/encoding'
import * as Y from 'yjs'
import { Awareness, encodeAwarenessUpdate } from 'y-protocols/awareness'
import { mintToken, student, teacher } from '../../test/helpers/tokens.ts'
import { sendMessage } from '../../docs-model/surfaces/chat/surface.ts'
import { reportActivity } from '../../docs-model/surfaces/class/surface.ts'
import { vote } from '../../docs-model/surfaces/poll/surface.ts'

export const STUDENTS = Number(process.env.STUDENTS ?? 30)
const TYPISTS = Number(process.env.TYPISTS ?? 2)
const KEYSTROKES_PER_SEC = 3
const CHAT_EVERY_MS = 3000
const PRESENCE_EVERY_MS = 10_000
const OPTIONS = ['a', 'b', 'c', 'd']

/** One user's connection: documents (Hocuspocus) or rooms (Socket.IO) carrying Yjs updates. */
interface Transport {
  open(name: string, onUpdate?: (update: Uint8Array) => void): Promise<void>
  send(name: string, update: Uint8Array): void
  awareness(name: string, update: Uint8Array): void
  close(): void
}

// Hocuspocus message types and sub-types used here.
const SYNC = 0
const AWARENESS = 1
const AUTH = 2
const STEP_1 = 0
const STEP_2 = 1
const UPDATE = 2
const AUTHENTICATED = 2

function frame(name: string, write: (encoder: encoding.Encoder) => void): Uint8Array {
  const encoder = encoding.createEncoder()
  encoding.writeVarString(encoder, name)
  write(encoder)
  return encoding.toUint8Array(encoder)
}

async function hocuspocusTransport(url: string, token: string): Promise<Transport> {
  const ws = new WebSocket(url)
  await new Promise((resolve, reject) => {
    ws.once('open', resolve)
    ws.once('error', reject)
  })
  const docs = new Map<string, { synced: () => void; onUpdate?: (update: Uint8Array) => void }>()
  ws.on('message', (data: Buffer) => {
    const decoder = decoding.createDecoder(new Uint8Array(data))
    const doc = docs.get(decoding.readVarString(decoder))
    const type = decoding.readVarUint(decoder)
    if (!doc) return
    if (type === AUTH && decoding.readVarUint(decoder) !== AUTHENTICATED) throw new Error(`refused: ${decoding.readVarString(decoder)}`)
    if (type !== SYNC) return
    const sub = decoding.readVarUint(decoder)
    if (sub === STEP_1) return
    const update = decoding.readVarUint8Array(decoder)
    doc.onUpdate?.(update)
    if (sub === STEP_2) doc.synced()
  })
  return {
    open: (name, onUpdate) =>
      new Promise<void>((synced) => {
        docs.set(name, { synced, onUpdate })
        ws.send(frame(name, (e) => { encoding.writeVarUint(e, AUTH); encoding.writeVarUint(e, 0); encoding.writeVarString(e, token) }))
        ws.send(frame(name, (e) => { encoding.writeVarUint(e, SYNC); encoding.writeVarUint(e, STEP_1); encoding.writeVarUint8Array(e, new Uint8Array([0])) }))
      }),
    send: (name, update) => ws.send(frame(name, (e) => { encoding.writeVarUint(e, SYNC); encoding.writeVarUint(e, UPDATE); encoding.writeVarUint8Array(e, update) })),
    awareness: (name, update) => ws.send(frame(name, (e) => { encoding.writeVarUint(e, AWARENESS); encoding.writeVarUint8Array(e, update) })),
    close: () => ws.terminate(),
  }
}

async function socketioTransport(url: string): Promise<Transport> {
  const socket: Socket = io(url.replace(/^ws/, 'http'), { transports: ['websocket'], reconnection: false })
  await new Promise((resolve, reject) => {
    socket.once('connect', () => resolve(undefined))
    socket.once('connect_error', reject)
  })
  const rooms = new Map<string, (update: Uint8Array) => void>()
  socket.on('relay', (room: string, payload: Buffer) => rooms.get(room)?.(new Uint8Array(payload)))
  return {
    open: (name, onUpdate) =>
      new Promise<void>((joined) => {
        if (onUpdate) rooms.set(name, onUpdate)
        socket.emit('join', name, joined)
      }),
    send: (name, update) => void socket.emit('relay', name, update),
    awareness: (name, update) => void socket.emit('relay', `${name}#awareness`, update),
    close: () => void socket.disconnect(),
  }
}

/** A Y.Doc whose local changes go out through `transport` on `name`. */
function outgoing(transport: Transport, name: string): Y.Doc {
  const doc = new Y.Doc()
  doc.on('update', (update: Uint8Array, origin: unknown) => {
    if (origin !== 'remote') transport.send(name, update)
  })
  return doc
}

const [kind, url, firstArg, countArg, secondsArg] = process.argv.slice(2)
const first = Number(firstArg)
const count = Number(countArg)
const seconds = Number(secondsArg)
const connect = async (claims: Parameters<typeof mintToken>[0]): Promise<Transport> =>
  kind === 'socketio' ? socketioTransport(url) : hocuspocusTransport(url, await mintToken(claims, { ttl: '8h' }))

const latencies: number[] = []
const sentAt = new Map<string, number>()
const transports: Transport[] = []
const timers: NodeJS.Timeout[] = []
const starters: Array<() => void> = []

async function setUpClass(index: number): Promise<void> {
  const c = `c${index}`
  const names = { doc: `s1/doc/${c}`, chat: `s1/chat/${c}`, class: `s1/class/${c}`, poll: `s1/poll/${c}` }
  const teacherTransport = await connect(teacher(`t${index}`, { classes: [c] }))
  transports.push(teacherTransport)
  // The teacher's copies: what arrives is applied, and the first sight of each marked change timed.
  const watched = { doc: new Y.Doc(), chat: new Y.Doc(), class: new Y.Doc() }
  watched.doc.getXmlFragment('body').observeDeep((events) => {
    const now = performance.now()
    for (const event of events) {
      if (!(event.target instanceof Y.XmlText)) continue
      const by = (event.target.parent as Y.XmlElement | null)?.getAttribute('by')
      for (let n = event.target.length - 1; n >= 0; n--) {
        const key = `${by}:${n}`
        const at = sentAt.get(key)
        if (at === undefined) break
        latencies.push(now - at)
        sentAt.delete(key)
      }
    }
  })
  watched.chat.getArray('messages').observe((event) => {
    const now = performance.now()
    for (const item of event.changes.added) {
      for (const message of item.content.getContent() as Array<{ text: string }>) {
        const at = sentAt.get(message.text)
        if (at !== undefined) latencies.push(now - at)
        sentAt.delete(message.text)
      }
    }
  })
  for (const key of ['doc', 'chat', 'class'] as const) {
    await teacherTransport.open(names[key], (update) => Y.applyUpdate(watched[key], update, 'remote'))
  }
  await teacherTransport.open(names.poll)
  const poll = outgoing(teacherTransport, names.poll)
  poll.transact(() => {
    const meta = poll.getMap('meta')
    meta.set('question', 'Which one?')
    meta.set('options', OPTIONS)
    meta.set('kind', 'poll')
    meta.set('anonymous', false)
  })

  const chats: Y.Doc[] = []
  for (let s = 0; s < STUDENTS; s++) {
    const user = `${c}s${s}`
    const transport = await connect(student(user, { classes: [c] }))
    transports.push(transport)
    chats.push(outgoing(transport, names.chat))
    await Promise.all([transport.open(names.doc), transport.open(names.chat), transport.open(names.class), transport.open(`${names.poll}/ballot/${user}`)])
    reportActivity(outgoing(transport, names.class), user, 'active')
    const presenceDoc = new Y.Doc()
    const presence = new Awareness(presenceDoc)
    clearInterval((presence as unknown as { _checkInterval: NodeJS.Timeout })._checkInterval)
    starters.push(() => {
      let cursor = 0
      timers.push(setInterval(() => {
        presence.setLocalState({ cursor: cursor++ })
        transport.awareness(names.doc, encodeAwarenessUpdate(presence, [presenceDoc.clientID]))
      }, PRESENCE_EVERY_MS + Math.random() * 1000))
      const ballot = outgoing(transport, `${names.poll}/ballot/${user}`)
      timers.push(setTimeout(() => vote(ballot, s % OPTIONS.length), Math.random() * seconds * 1000))
    })
    if (s < TYPISTS) {
      const doc = outgoing(transport, names.doc)
      const paragraph = new Y.XmlElement('paragraph')
      const text = new Y.XmlText()
      starters.push(() => {
        doc.transact(() => {
          paragraph.setAttribute('by', user)
          paragraph.insert(0, [text])
          doc.getXmlFragment('body').insert(0, [paragraph])
        })
        let n = 0
        timers.push(setInterval(() => {
          sentAt.set(`${user}:${n++}`, performance.now())
          text.insert(text.length, 'x')
        }, 1000 / KEYSTROKES_PER_SEC))
      })
    }
  }
  starters.push(() => {
    let n = 0
    timers.push(setInterval(() => {
      const speaker = n % STUDENTS
      const key = `${c}:chat:${n++}`
      sentAt.set(key, performance.now())
      sendMessage(chats[speaker], `${c}s${speaker}`, key)
    }, CHAT_EVERY_MS + Math.random() * 100))
  })
}

for (let i = first; i < first + count; i++) await setUpClass(i)
process.send!({ ready: true })
process.once('message', async () => {
  for (const start of starters) start()
  await new Promise((resolve) => setTimeout(resolve, seconds * 1000))
  for (const timer of timers) clearInterval(timer)
  // What is still in flight gets a moment to arrive.
  await new Promise((resolve) => setTimeout(resolve, 1000))
  process.send!({ latencies, users: count * (STUDENTS + 1) })
  process.once('message', () => {
    for (const transport of transports) transport.close()
    process.exit(0)
  })
})
