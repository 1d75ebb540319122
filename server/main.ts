// Starting a server process: configuration, start-up log, the heartbeat in the store, graceful
// shutdown on SIGTERM/SIGINT.
import { resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { ConfigError, configOrExit, processTarget, type Config, type ConfigTarget, type loadConfig } from './config.ts'
import { createHomeroom, type HomeroomServer } from './app.ts'
import { startHeartbeat, type Heartbeat } from './store/heartbeat.ts'

export interface ServeOptions {
  /** Variables that came from a `.env` file (a pasted command in the same folder reads them too). */
  fromEnvFile?: ReadonlySet<string>
  /** The environment, working directory and failure output: this process's unless the command runs in-process (tests). */
  target?: ServeTarget
}

type ServeTarget = ConfigTarget & { cwd: string }

const PROJECT_ROOT = fileURLToPath(new URL('..', import.meta.url)).replace(/\/$/, '')
const CLI = fileURLToPath(new URL('../scripts/homeroom.ts', import.meta.url))

export async function serve(defaults: Parameters<typeof loadConfig>[1] = {}, options: ServeOptions = {}): Promise<void> {
  const target: ServeTarget = options.target ?? { ...processTarget, cwd: process.cwd() }
  const config = configOrExit(defaults, target)
  let app
  try {
    app = createHomeroom(config)
  } catch (error) {
    const prefix = error instanceof ConfigError ? 'bad configuration' : 'cannot start'
    target.stderr.write(`homeroom: ${prefix}: ${(error as Error).message}\n`)
    target.exit(2)
  }
  // The HTTP server reports a port it cannot take as an 'error' event, not as a rejection.
  const failed = new Promise<never>((_, reject) => app.server.httpServer.once('error', reject))
  let port: number
  try {
    ;({ port } = await Promise.race([app.start(), failed]))
  } catch (error) {
    target.stderr.write(`homeroom: ${listenFailure(error, config)}\n`)
    // Released before exiting, since an in-process run goes on; a failure to release changes nothing about the exit.
    await app.stop().catch(() => {})
    target.exit(1)
  }
  const host = config.host === '0.0.0.0' || config.host === '::' ? 'localhost' : config.host
  const address = `http://${host.includes(':') ? `[${host}]` : host}:${port}`
  let heartbeat: Heartbeat | undefined
  try {
    heartbeat = await startHeartbeat(app.store, { instance: config.instanceId, address }, { intervalMs: config.heartbeatIntervalMs, log: app.log, figures: () => figuresOf(app) })
  } catch (error) {
    app.log.warn({ err: error }, 'cannot start the heartbeat; admin commands may not see this server running')
  }
  app.log.info(
    { dataDir: resolve(config.dataDir) },
    `ready: ws://${host}:${port} · health http://${host}:${port}/health · mint a token with: ${tokenHint(config, options, target.env, target.cwd)}` +
      (config.playground ? ` · playground http://${host}:${port}/` : ''),
  )
  const shutdown = (signal: string) => {
    // Which documents are still loaded, and with how many connections: a document no connection
    // holds is one that failed to unload (the chaos run's leftover check finds them, not which).
    const loaded = [...app.hocuspocus.documents].slice(0, LOADED_LOGGED).map(([name, doc]) => `${name} (${doc.getConnectionsCount()})`)
    app.log.info({ signal, documents: app.hocuspocus.getDocumentsCount(), loaded }, 'shutting down')
    // Whatever hangs (a store or Redis that stopped answering), the process still ends: every
    // acknowledged change is journaled already, a snapshot left unwritten is rebuilt from it.
    setTimeout(() => {
      app.log.error({ afterMs: SHUTDOWN_TIMEOUT_MS }, 'shutdown did not finish in time; exiting')
      process.exit(1)
    }, SHUTDOWN_TIMEOUT_MS).unref()
    ;(heartbeat?.stop() ?? Promise.resolve())
      .then(() => app.stop())
      .then(
        () => process.exit(0),
        (error) => {
          app.log.error({ err: error }, 'shutdown failed')
          process.exit(1)
        },
      )
  }
  process.once('SIGTERM', () => shutdown('SIGTERM'))
  process.once('SIGINT', () => shutdown('SIGINT'))
  process.on('unhandledRejection', (error) => app.log.error({ err: error }, 'unhandled rejection (kept serving)'))
}

/** Longer than app.stop()'s own waits (10 s for clients and pending writes) plus closing the store. */
const SHUTDOWN_TIMEOUT_MS = 20_000
/** Loaded documents named in the shutdown line, at most. */
const LOADED_LOGGED = 20

/** What the heartbeat reports for the cluster's status. */
const figuresOf = (app: HomeroomServer) => ({ connections: app.socketCount(), documents: app.hocuspocus.getDocumentsCount(), messagesPerSec: app.metrics.messageRate() })

/** One line for a port that cannot be listened on. */
export function listenFailure(error: unknown, config: Pick<Config, 'host' | 'port'>): string {
  const code = (error as { code?: string })?.code
  const where = `${config.host}:${config.port}`
  if (code === 'EADDRINUSE') return `port ${config.port} is in use (another program, or another Homeroom, listens on ${where}): stop it or set PORT to a free port`
  if (code === 'EACCES') return `port ${config.port} needs privileges on this system (listening on ${where} was refused): set PORT to a port above 1023`
  if (code === 'EADDRNOTAVAIL') return `HOST ${config.host} is not an address of this machine (cannot listen on ${where}): set HOST to one of its addresses, or 0.0.0.0`
  return `cannot listen on ${where}: ${(error as Error)?.message ?? String(error)}`
}

const quote = (value: string): string => (/^[\w@%+=:,./-]+$/.test(value) ? value : `'${value.replaceAll("'", `'\\''`)}'`)

/** Variables that decide how a token is signed and whether the server accepts it. */
const SIGNING = ['JWT_SECRET', 'JWT_PRIVATE_KEY', 'JWT_PUBLIC_KEY', 'JWT_ISSUER', 'JWT_AUDIENCE', 'MAX_TOKEN_TTL']

/**
 * The `homeroom token` command to paste: with the DATA_DIR in force (absolute), through npm when
 * the server runs from the project folder, else with this Node and this script.
 */
export function tokenHint(config: Config, options: ServeOptions = {}, env: Record<string, string | undefined> = process.env, cwd = process.cwd()): string {
  const claims = 'token --sub t1 --role teacher --schools s1'
  const command = resolve(cwd) === PROJECT_ROOT ? `npm run --silent homeroom -- ${claims}` : `${quote(process.execPath)} ${quote(CLI)} ${claims}`
  const hint = `DATA_DIR=${quote(resolve(config.dataDir))} ${command}`
  const needed = SIGNING.filter((name) => env[name] && !options.fromEnvFile?.has(name))
  return needed.length === 0 ? hint : `${hint} (with the server's ${needed.join(', ')} in its environment)`
}
