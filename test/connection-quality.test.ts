// Connection quality: the server times the round trip of its WebSocket pings, as a histogram
// metric and per user in GET /api/v1/stats, next to the device kind each client reported in its
// WebSocket URL before any token (kept for statistics, never trusted for rules: an unknown kind
// is `unknown`).
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { HocuspocusProviderWebsocket } from '@hocuspocus/provider'
import { useServer } from './helpers/server.ts'
import { closeClients, connect, DEADLINE_MS, until, within } from './helpers/clients.ts'
import { admin, mintToken, student } from './helpers/tokens.ts'
import { api } from './helpers/api.ts'
import WebSocket from 'ws'
import { withDevice, type DeviceKind } from '../docs-model/device.ts'

const server = useServer({ WS_PING_INTERVAL_MS: '1000' })
const sockets: HocuspocusProviderWebsocket[] = []
test.after.each(() => {
  closeClients()
  for (const socket of sockets.splice(0)) socket.destroy()
})

const socketFor = (device: string) => {
  const socket = new HocuspocusProviderWebsocket({ url: withDevice(server.url, device as DeviceKind), WebSocketPolyfill: WebSocket, maxAttempts: 1 })
  sockets.push(socket)
  return socket
}

test('each user’s devices and ping round trip in the stats, and the round trips as a histogram', async () => {
  const tablet = connect(server.url, 's1/doc/d1', await mintToken(student('u1')), { socket: socketFor('tablet') })
  const other = connect(server.url, 's1/doc/d1', await mintToken(student('u2')), { socket: socketFor('toaster') })
  await within(Promise.all([tablet.synced, other.synced]), DEADLINE_MS, 'sync')
  const stats = async () => (await api(server, 'GET', '/api/v1/stats', { token: await mintToken(admin()) })).json
  await until(async () => (await stats()).users?.u1?.rttMs !== undefined, { what: 'a ping answered' })
  const { users } = await stats()
  assert.equal(users.u1.devices, ['tablet'])
  assert.is(users.u1.sockets, 1)
  assert.ok(users.u1.rttMs >= 0 && users.u1.rttMs < DEADLINE_MS)
  assert.equal(users.u2.devices, ['unknown'], 'a kind not in the list is unknown')
  const metrics = await server.app.metrics.registry.getSingleMetricAsString('homeroom_connection_rtt_seconds')
  const count = Number(/homeroom_connection_rtt_seconds_count (\d+)/.exec(metrics)?.[1])
  assert.ok(count >= 1, `round trips observed (${count})`)

  tablet.provider.destroy()
  await until(async () => (await stats()).users?.u1 === undefined, { what: 'u1 gone from the stats' })
})

test.run()
