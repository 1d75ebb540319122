// A TCP proxy a test can cut and restore: a real network outage between a server and a real
// service (PostgreSQL), without stopping the service other tests share.
import { createConnection, createServer, type Server, type Socket } from 'node:net'

export interface Proxy {
  port: number
  /** Drops every open connection and refuses new ones. */
  cut(): Promise<void>
  /** Accepts connections again on the same port. */
  restore(): Promise<void>
  close(): Promise<void>
}

export async function startProxy(targetPort: number, targetHost = '127.0.0.1'): Promise<Proxy> {
  const sockets = new Set<Socket>()
  let server: Server | undefined
  const track = (socket: Socket) => {
    sockets.add(socket)
    socket.once('close', () => sockets.delete(socket))
    socket.on('error', () => socket.destroy())
  }
  const listen = (port: number) =>
    new Promise<number>((resolve, reject) => {
      server = createServer((client) => {
        const upstream = createConnection(targetPort, targetHost)
        track(client)
        track(upstream)
        client.pipe(upstream)
        upstream.pipe(client)
        client.once('close', () => upstream.destroy())
        upstream.once('close', () => client.destroy())
      })
      server.once('error', reject)
      server.listen(port, '127.0.0.1', () => resolve((server!.address() as { port: number }).port))
    })
  const stop = async () => {
    const closing = server
    server = undefined
    for (const socket of sockets) socket.destroy()
    if (closing) await new Promise((r) => closing.close(r))
  }
  const port = await listen(0)
  return {
    port,
    cut: stop,
    async restore() {
      if (!server) await listen(port)
    },
    close: stop,
  }
}
