// Wiring: one Homeroom instance is a Hocuspocus server with Homeroom's extensions, a store,
// an HTTP router and the metrics, started and stopped as one.
import type { Socket } from 'node:net'
import { Server, type Extension, type Hocuspocus } from '@hocuspocus/server'
import type { Config } from './config.ts'
import { Identities } from './identity.ts'
import { Directory } from './directory.ts'
import { createLogger, routeConsoleContext, type Logger } from './log.ts'
import { Keepalive } from './keepalive.ts'
import { Metrics } from './metrics.ts'
import { HttpApi, warnIfPlaygroundExposed } from './http.ts'
import { coreRoutes } from './routes/core.ts'
import { docsRoutes } from './routes/docs.ts'
import { rosterRoutes } from './routes/roster.ts'
import { peopleRoutes } from './routes/people.ts'
import { notificationRoutes } from './routes/notifications.ts'
import { dashboardRoutes } from './routes/dashboards.ts'
import { fileRoutes } from './routes/files.ts'
import { eventRoutes } from './routes/events.ts'
import { meRoutes } from './routes/me.ts'
import { eventTypeRoutes } from './routes/event-types.ts'
import { deliveryRoutes } from './routes/deliveries.ts'
import { leaderboardRoutes } from './routes/leaderboards.ts'
import { schoolContextRoutes } from './routes/school-context.ts'
import { broadcastRoutes } from './routes/broadcasts.ts'
import { EventIngress } from './events/ingress.ts'
import { eventStore } from './store/events.ts'
import { EventsOut, type Publisher } from './events/outbound.ts'
import { startRetentionTimer } from './retention.ts'
import { openStore } from './store/open.ts'
import type { Store } from './store/types.ts'
import { Auth } from '../extensions/auth.ts'
import { Limits } from '../extensions/limits.ts'
import { StaleUnloadGuard } from '../extensions/stale-unload.ts'
import { JournalCatchUp, Persistence } from '../extensions/persistence.ts'
import { RedisSync } from '../extensions/redis/index.ts'
import { Guard } from '../extensions/guard.ts'
import { Presence } from '../extensions/presence.ts'
import { ServerClock } from '../extensions/server-clock.ts'
import { Signaling } from '../extensions/signaling.ts'
import { Observers } from '../extensions/observers/registry.ts'
import { ConnectionEvents } from '../extensions/connection-events.ts'
import { PollObserver } from '../extensions/observers/poll.ts'
import { ClassroomObserver } from '../extensions/observers/classroom.ts'
import { SystemStatusObserver } from '../extensions/observers/system-status.ts'
import { ExamObserver } from '../extensions/observers/exam.ts'
import { ProctoringObserver } from '../extensions/observers/proctoring.ts'
import { EmergencyObserver } from '../extensions/observers/emergency.ts'
import { FanOuts } from '../extensions/observers/fan-out.ts'
import { BusObserver } from '../extensions/observers/bus.ts'
import { MessageNoticeObserver } from '../extensions/observers/message-notices.ts'
import { PollNoticeObserver } from '../extensions/observers/poll-notices.ts'
import { MessageArchiveObserver } from '../extensions/observers/message-archive.ts'
import { InboxObserver } from '../extensions/observers/inbox.ts'
import { LeaderboardViewsObserver } from '../extensions/observers/leaderboard-views.ts'
import { Webhook } from './webhook.ts'
import { emergencyRoutes } from './routes/emergencies.ts'
import { busRoutes } from './routes/buses.ts'
import { groupRoutes } from './routes/groups.ts'
import { playgroundRoutes } from './routes/playground.ts'
import { RelatedDocs } from './facts.ts'
import { ReadFacts } from './read-facts.ts'
import { YWebsocketEndpoint } from './ywebsocket.ts'
import { systemClock, type Clock } from './clock.ts'
import type { Homeroom } from './homeroom.ts'
import { EXTENSION_PRIORITY } from '../extensions/priorities.ts'

/** A Homeroom as its owner (the `serve` command, tests) holds it: the narrow interface plus its parts and lifecycle. */
export interface HomeroomServer extends Homeroom {
  limits: Limits
  persistence: Persistence
  /** The HTTP API (Fastify), served on the Hocuspocus port. */
  api: HttpApi
  server: Server
  start(): Promise<{ port: number }>
  /** Graceful stop: refuse new sockets, close clients, snapshot, close storage. */
  stop(): Promise<void>
}

export interface HomeroomOptions {
  log?: Logger
  store?: Store
  /** Time for observers' deadlines and derivations; the system clock unless a test drives one. */
  clock?: Clock
  /** Extra extensions (test fault injectors), run after the built-in ones. */
  extensions?: Extension[]
}

export function createHomeroom(config: Config, options: HomeroomOptions = {}): HomeroomServer {
  const log = options.log ?? createLogger(config.logLevel, { instance: config.instanceId })
  const metrics = new Metrics()
  const store = options.store ?? openStore(config, log, { server: true })
  const identities = new Identities(config)
  const clock = options.clock ?? systemClock
  const directory = new Directory(store, log)
  identities.onVerified = (user) => directory.record(user, clock.now())
  const limits = new Limits({ limits: config.limits, metrics })
  const persistence = new Persistence({ store, metrics, log, snapshotEvery: config.snapshotEvery })
  const api = new HttpApi({ config, identities, log })
  const sockets = new Set<Socket>()
  // One listener for every socket (`this` is the socket): a closure and a once() wrapper per socket cost about 200 B.
  const untrack = function (this: Socket) {
    sockets.delete(this)
  }

  // Completed below: observers need the app, and the app needs the server they are part of.
  const events = eventStore(store)
  const eventsOut = new EventsOut({ config, log, metrics, outbox: events })
  const app = { config, log, metrics, store, eventStore: events, eventsOut: eventsOut as Publisher, identities, directory, clock } as HomeroomServer
  const peek = (name: string) => persistence.peek(name, app.hocuspocus.documents)
  // Read rules see live documents, or recent copies: a refused opening never replays a document by itself.
  const readFacts = new ReadFacts((name) => app.hocuspocus.documents.get(name), store)
  const auth = new Auth({ identities, limits, metrics, log, peek: readFacts.peek })
  const related = new RelatedDocs((name) => app.hocuspocus.documents.get(name), peek)
  const guard = new Guard({ metrics, log, related, store, limits: config.limits, clock })
  const presence = new Presence({ limits: config.limits, metrics, owners: store })
  const webhook = new Webhook({ url: config.emergency.webhookUrl, secret: config.emergency.webhookSecret, log, metrics })
  const fanOuts = new FanOuts(app, webhook)
  const observers = new Observers(app, [
    fanOuts,
    new PollObserver(app),
    new ClassroomObserver(app),
    new SystemStatusObserver(app, { everyMs: config.heartbeatIntervalMs }),
    new ExamObserver(app),
    new ProctoringObserver(app, fanOuts),
    new EmergencyObserver(app, fanOuts),
    new BusObserver(app),
    new MessageNoticeObserver(app),
    new PollNoticeObserver(app, fanOuts),
    new MessageArchiveObserver(app),
    new InboxObserver(app),
    new LeaderboardViewsObserver(app),
  ])

  const http: Extension = {
    extensionName: 'http',
    priority: EXTENSION_PRIORITY.http,
    // Every plain request goes to Fastify. Hocuspocus answers "Welcome to Hocuspocus!" unless a
    // hook rejects, and treats a rejection with an empty error as "handled" (Server.requestHandler).
    async onRequest({ request, response }) {
      await api.handle(request, response)
      throw null
    },
    async onListen() {
      await api.ready()
    },
    async onDestroy() {
      await api.close()
    },
    async onUpgrade({ socket }) {
      sockets.add(socket)
      socket.on('close', untrack)
    },
  }

  const keepalive = new Keepalive({ intervalMs: config.websocket.pingIntervalMs, timeoutMs: config.websocket.pingTimeoutMs, log, metrics })
  const connectionEvents = new ConnectionEvents(app)
  // Several instances: updates and presence travel through Redis (see docs/scaling.md).
  const redis = config.redisUrl ? new RedisSync({ url: config.redisUrl, instanceId: config.instanceId, prefix: config.redisKeyPrefix, metrics, log, store: store.kind }) : undefined
  const signaling = new Signaling({ metrics, log, peers: redis })
  const server = new Server({
    name: config.instanceId,
    port: config.port,
    address: config.host,
    quiet: true,
    stopOnSignals: false,
    // Idle timeout, plus WebSocket pings every interval whose pongs count as life (server/keepalive.ts).
    timeout: config.websocket.pingTimeoutMs,
    onConfigure: async ({ instance }) => {
      keepalive.attach(instance)
      routeConsoleContext(instance)
    },
    extensions: [new StaleUnloadGuard(), limits, auth, readFacts, new JournalCatchUp(persistence), guard, persistence, ...(redis ? [redis] : []), presence, signaling, new ServerClock(clock), http, new YWebsocketEndpoint({ log, maxPayload: config.limits.maxMessageBytes + 64 * 1024 }), observers, connectionEvents, ...(options.extensions ?? [])],
    // crossws keeps its own set of live sockets: ws' client set (an entry and a close listener per socket) has no reader.
    websocketOptions: { maxPayload: config.limits.maxMessageBytes + 64 * 1024, clientTracking: false },
  })

  let stopping: Promise<void> | undefined
  let stopRetention: (() => void) | undefined
  // Events from a back end's Redis stream (docs/integration.md).
  const ingress = config.redisUrl ? new EventIngress(app, config.redisUrl) : undefined

  Object.assign(app, {
    config,
    log,
    metrics,
    store,
    eventStore: events,
    eventsOut,
    identities,
    directory,
    limits,
    persistence,
    api,
    server,
    clock,
    hocuspocus: server.hocuspocus,
    redis: api.redis,
    peek,
    journaled: (name: string) => persistence.journaled(name),
    serving: () => server.httpServer.listening,
    socketCount: () => limits.socketCount(),
    stats: () => ({
      instance: config.instanceId,
      connections: limits.socketCount(),
      documentConnections: server.hocuspocus.getConnectionsCount(),
      documents: server.hocuspocus.getDocumentsCount(),
      rooms: roomsBySurface(server.hocuspocus),
      messagesTotal: metrics.messageCount,
      messagesPerSec: metrics.messageRate(),
      uptimeSec: Math.round(process.uptime()),
      users: connectionEvents.users((request) => keepalive.rttOf(request)),
    }),
    async start() {
      await server.listen()
      const port = server.address.port
      stopRetention = startRetentionTimer(app)
      ingress?.start()
      eventsOut.start()
      warnIfPlaygroundExposed(config, log)
      log.info({ port, host: config.host, store: store.kind }, `Homeroom listening on http://${config.host}:${port} (WebSocket on the same port)`)
      return { port }
    },
    stop() {
      stopping ??= (async () => {
        stopRetention?.()
        await ingress?.stop()
        persistence.snapshotEverything()
        const timeout = new Promise<void>((resolve) => setTimeout(resolve, 10_000).unref())
        await Promise.race([server.destroy(), timeout])
        await Promise.race([persistence.idle(), timeout])
        for (const socket of sockets) socket.destroy()
        await eventsOut.stop()
        await store.close()
        log.info('stopped')
      })()
      return stopping
    },
  } satisfies HomeroomServer)
  api.routes(app, coreRoutes, docsRoutes, rosterRoutes, peopleRoutes, notificationRoutes, eventRoutes, eventTypeRoutes, deliveryRoutes, leaderboardRoutes, schoolContextRoutes, broadcastRoutes, meRoutes, dashboardRoutes, fileRoutes, emergencyRoutes, busRoutes, playgroundRoutes, groupRoutes)
  return app
}

function roomsBySurface(hocuspocus: Hocuspocus): Record<string, number> {
  const rooms: Record<string, number> = {}
  for (const name of hocuspocus.documents.keys()) {
    const surface = name.split('/')[1] ?? '?'
    rooms[surface] = (rooms[surface] ?? 0) + 1
  }
  return rooms
}
