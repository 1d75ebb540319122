// File attachments: uploaded over HTTP, linked in a chat message, downloaded by another member of
// the school, refused to other schools; sizes, names and types checked; never served inline.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { useServer } from './helpers/server.ts'
import { closeClients, open, until } from './helpers/clients.ts'
import { mintToken, student, teacher } from './helpers/tokens.ts'
import { api, assertError } from './helpers/api.ts'
import { messagesOf, sendMessage } from '../docs-model/surfaces/chat/surface.ts'

const MAX = 4096
const server = useServer({ MAX_FILE_BYTES: String(MAX) })
test.after.each(closeClients)

const png = new Uint8Array(1000).map((_, i) => (i * 7) % 256)
const upload = (token: string, body: Uint8Array | string, headers: Record<string, string>, school = 's1') =>
  api(server, 'POST', `/api/v1/files?school=${school}`, { token, body, headers })

test('a file uploaded, linked in a message and downloaded by another member; refused to another school', async () => {
  const sender = await mintToken(student('u1'))
  const up = await upload(sender, png, { 'Content-Type': 'image/png', 'X-Filename': encodeURIComponent('Ödön\'s drawing.png') })
  assert.is(up.status, 201)
  assert.equal({ name: up.json.name, size: up.json.size, type: up.json.type }, { name: 'Ödön\'s drawing.png', size: 1000, type: 'image/png' })
  assert.match(up.json.url, /^\/api\/v1\/files\/[A-Za-z0-9_-]+$/)

  const room = await open(server, 's1/chat/art', student('u1'))
  const peer = await open(server, 's1/chat/art', student('u2'))
  sendMessage(room.doc, 'u1', 'my drawing', { name: up.json.name, size: up.json.size, url: up.json.url })
  await until(() => messagesOf(peer.doc).length === 1, { what: 'message with the file' })
  const link = messagesOf(peer.doc)[0].file!

  const download = await api(server, 'GET', link.url, { token: await mintToken(student('u2')) })
  assert.is(download.status, 200)
  assert.equal(download.bytes, png)
  assert.is(download.headers.get('content-type'), 'image/png')
  assert.match(download.headers.get('content-disposition')!, /^attachment; filename="/)
  assert.match(download.headers.get('content-disposition')!, /filename\*=UTF-8''%C3%96d%C3%B6n%27s%20drawing\.png/)
  assert.is(download.headers.get('x-content-type-options'), 'nosniff')

  // Links are followed by browsers that cannot set headers: ?token= works as well.
  const byQuery = await api(server, 'GET', `${link.url}?token=${await mintToken(teacher())}`)
  assert.is(byQuery.status, 200)

  assertError(await api(server, 'GET', link.url, { token: await mintToken(student('x1', { schools: ['s2'] })) }), 403, 'forbidden')
  assertError(await api(server, 'GET', link.url), 401, 'unauthenticated')
  assertError(await api(server, 'GET', '/api/v1/files/AAAAAAAAAAAAAAAAAAAAAA', { token: sender }), 404, 'not-found')
})

test('HTML is stored as bytes and only ever served as a download', async () => {
  const token = await mintToken(student('u1'))
  const up = await upload(token, '<script>alert(1)</script>', { 'Content-Type': 'text/html; charset=utf-8', 'X-Filename': '../../etc/<evil>.html' })
  assert.is(up.status, 201)
  assert.is(up.json.name, '_evil_.html', 'path dropped, reserved characters replaced')
  assert.is(up.json.type, 'text/html')
  const served = await api(server, 'GET', up.json.url, { token })
  assert.match(served.headers.get('content-disposition')!, /^attachment;/)
  assert.match(served.headers.get('content-security-policy')!, /sandbox/)
  assert.is(served.headers.get('x-content-type-options'), 'nosniff')
})

test('uploads with bad input are refused with the contract error shape', async () => {
  const token = await mintToken(student('u1'))
  const ok = { 'Content-Type': 'application/pdf', 'X-Filename': 'a.pdf' }
  assertError(await upload('', png, ok), 401, 'unauthenticated')
  assertError(await upload(token, png, ok, 's2'), 403, 'forbidden')
  assertError(await upload(token, png, ok, 'bad school'), 400, 'bad-request')
  assertError(await upload(token, new Uint8Array(MAX + 1), ok), 413, 'too-large')
  assertError(await upload(token, png, { 'Content-Type': 'application/pdf' }), 400, 'bad-request')
  assertError(await upload(token, png, { 'Content-Type': 'not a type', 'X-Filename': 'a.pdf' }), 400, 'bad-request')
  assertError(await upload(token, png, { 'Content-Type': 'application/pdf', 'X-Filename': '../..' }), 400, 'bad-request')
})

test.run()
