// Health, metrics and statistics.
import type { Homeroom } from '../app.ts'
import { HttpError, requireRole, sendJson, type Router } from '../http.ts'

const isLoopback = (address: string | undefined): boolean =>
  address === '127.0.0.1' || address === '::1' || address === '::ffff:127.0.0.1'

export function coreRoutes(router: Router, app: Homeroom): void {
  router.on('GET', '/health', ({ res }) => {
    sendJson(res, 200, { status: 'ok', instance: app.config.instanceId, store: app.store.kind, uptimeSec: Math.round(process.uptime()) })
  })

  router.on('GET', '/metrics', async ({ req, res, user }) => {
    if (!isLoopback(req.socket.remoteAddress)) await user()
    app.metrics.documents.set(app.hocuspocus.getDocumentsCount())
    app.metrics.sockets.set(app.limits.socketCount())
    const text = await app.metrics.registry.metrics()
    res.writeHead(200, { 'Content-Type': app.metrics.registry.contentType })
    res.end(text)
  })

  router.on('GET', '/api/v1/stats', async ({ res, user }) => {
    requireRole(await user(), 'admin', 'service')
    sendJson(res, 200, app.stats())
  })

  router.on('GET', '/api/v1/*rest', ({ url }) => {
    throw new HttpError(404, 'not-found', `no route ${url.pathname}`)
  })
}
