// A TCP load balancer in front of the instances, without sticky sessions: every new connection
// (a WebSocket or an HTTP request) goes to one of the instances its health check calls up, so a
// client that reconnects lands wherever the pick sends it. Connections already open stay where
// they are, as with a real balancer: a paused instance keeps its sockets until they time out.
import { createConnection, createServer, type Socket } from 'node:net'

export interface Balancer {
  url: string
  http: string
  close(): Promise<void>
}

/** `pick` returns the port of the instance for the next connection, or undefined when none is up. */
export async function startBalancer(pick: () => number | undefined): Promise<Balancer> {
  const sockets = new Set<Socket>()
  const track = (socket: Socket) => {
    sockets.add(socket)
    socket.once('close', () => sockets.delete(socket))
    socket.on('error', () => socket.destroy())
  }
  const server = createServer((client) => {
    track(client)
    const port = pick()
    if (port === undefined) {
      client.destroy()
      return
    }
    const upstream = createConnection(port, '127.0.0.1')
    track(upstream)
    client.pipe(upstream)
    upstream.pipe(client)
    client.once('close', () => upstream.destroy())
    upstream.once('close', () => client.destroy())
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => resolve())
  })
  const { port } = server.address() as { port: number }
  return {
    url: `ws://127.0.0.1:${port}`,
    http: `http://127.0.0.1:${port}`,
    async close() {
      for (const socket of sockets) socket.destroy()
      await new Promise((r) => server.close(r))
    },
  }
}
