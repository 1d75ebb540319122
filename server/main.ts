// Starting a server process: configuration, start-up log, graceful shutdown on SIGTERM/SIGINT.
import { ConfigError, configOrExit, type loadConfig } from './config.ts'
import { createHomeroom } from './app.ts'

export async function serve(defaults: Parameters<typeof loadConfig>[1] = {}): Promise<void> {
  const config = configOrExit(defaults)
  let app
  try {
    app = createHomeroom(config)
  } catch (error) {
    const prefix = error instanceof ConfigError ? 'bad configuration' : 'cannot start'
    process.stderr.write(`homeroom: ${prefix}: ${(error as Error).message}\n`)
    process.exit(2)
  }
  const { port } = await app.start()
  const host = config.host === '0.0.0.0' ? 'localhost' : config.host
  app.log.info(
    `ready: ws://${host}:${port} · health http://${host}:${port}/health · mint a token with: npx homeroom token --sub t1 --role teacher --schools s1` +
      (config.playground ? ` · playground http://${host}:${port}/` : ''),
  )
  const shutdown = (signal: string) => {
    app.log.info({ signal }, 'shutting down')
    app.stop().then(
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
