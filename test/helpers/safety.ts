// Helpers for the exam, emergency and bus tests: reading documents as the server holds them,
// filling a roster, and a real HTTP server on 127.0.0.1 that receives alert webhooks.
import { createServer, type IncomingHttpHeaders } from 'node:http'
import type { AddressInfo } from 'node:net'
import * as Y from 'yjs'
import { resolve } from '../../docs-model/registry.ts'
import type { RosterMember } from '../../server/store/types.ts'
import type { TestServer } from './server.ts'

/** A document decoded to JSON from the server's current state (live copy or storage). */
export async function docJson(server: TestServer, name: string): Promise<any> {
  return resolve(name).surface.decode(await server.app.peek(name))
}

/** Serialized state size of a document as the server holds it. */
export async function stateBytes(server: TestServer, name: string): Promise<number> {
  return Y.encodeStateAsUpdate(await server.app.peek(name)).byteLength
}

export async function putRoster(server: TestServer, school: string, members: RosterMember[]): Promise<void> {
  await server.app.store.putRoster(school, members)
}

export interface Delivery {
  headers: IncomingHttpHeaders
  raw: string
  body: any
}

export interface WebhookReceiver {
  url: string
  /** Accepted deliveries, in order of arrival. */
  deliveries: Delivery[]
  /** Every request, refused ones included. */
  attempts: number
  close(): Promise<void>
}

/** Answers 500 to the first `failFirst` requests, then 200. */
export async function webhookReceiver(options: { failFirst?: number } = {}): Promise<WebhookReceiver> {
  const receiver = { deliveries: [] as Delivery[], attempts: 0 }
  const http = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      receiver.attempts++
      if (receiver.attempts <= (options.failFirst ?? 0)) {
        res.writeHead(500).end()
        return
      }
      const raw = Buffer.concat(chunks).toString('utf8')
      receiver.deliveries.push({ headers: req.headers, raw, body: JSON.parse(raw) })
      res.writeHead(204).end()
    })
  })
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r))
  const { port } = http.address() as AddressInfo
  return Object.assign(receiver, {
    url: `http://127.0.0.1:${port}/hooks/homeroom`,
    close: () => new Promise<void>((r) => http.close(() => r())),
  })
}
