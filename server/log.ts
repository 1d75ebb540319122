// Structured logs (pino): one JSON object per line, or human-readable lines (pino-pretty) when
// stdout is a terminal outside CI. Tokens never reach a log line: `token` and `authorization`
// fields are redacted, and text from dependencies is scrubbed of tokens.
//
// Dependencies print through the console: Hocuspocus writes a multi-line trace for every message
// it closes a connection over (each refused write), whatever LOG_LEVEL says. The first logger a
// process creates therefore takes over the console for calls made from dependencies (and Node's
// process warnings): each becomes one line of that logger, at the console method's level, or
// recognised and described (a refused message: info, with reason, document and user). Calls from
// anything else (Homeroom's own files, tests, scripts) still print as they are.
import { formatWithOptions } from 'node:util'
import type { Hocuspocus } from '@hocuspocus/server'
import pino from 'pino'
import pretty from 'pino-pretty'

export type Logger = pino.Logger

const REDACT = ['token', '*.token', 'authorization', '*.authorization']

/** Human-readable lines for a person at a terminal; JSON for pipes, files, collectors and CI. */
export const prettyOutput = (): boolean => Boolean(process.stdout.isTTY) && !process.env.CI

export function createLogger(level: string, bindings: Record<string, unknown> = {}, options: { pretty?: boolean } = {}): Logger {
  const settings: pino.LoggerOptions = { level, base: { pid: process.pid, ...bindings }, redact: REDACT }
  const logger =
    (options.pretty ?? prettyOutput())
      ? pino(settings, pretty({ sync: true, colorize: true, ignore: 'pid,hostname', translateTime: 'SYS:HH:MM:ss.l', singleLine: true }))
      : pino(settings)
  routeConsole(logger)
  return logger
}

/** Removes tokens from free text: JWTs, and `token=` parameters of URLs. */
export function scrub(text: string): string {
  return text.replace(/eyJ[\w-]*\.[\w-]*\.[\w-]*/g, '[token]').replace(/([?&;](?:access_)?token=)[^&\s"']+/gi, '$1[redacted]')
}

// ---- the console, for dependencies --------------------------------------------------------------

type Level = 'error' | 'warn' | 'info' | 'debug'
const METHODS: Array<[keyof Console & ('log' | 'info' | 'warn' | 'error' | 'debug' | 'trace'), Level]> = [
  ['error', 'error'],
  ['warn', 'warn'],
  ['log', 'info'],
  ['info', 'info'],
  ['debug', 'debug'],
  ['trace', 'debug'],
]

let sink: Logger | undefined

/** Once per process: console calls from dependencies and process warnings become lines of `logger`. */
function routeConsole(logger: Logger): void {
  if (sink) return
  sink = logger
  for (const [method, level] of METHODS) {
    const original = console[method].bind(console) as (...args: unknown[]) => void
    const routed = (...args: unknown[]): void => {
      if (calledFromDependency(routed)) emit(level, args)
      else original(...args)
    }
    console[method] = routed
  }
  // Node prints warnings itself (several lines of text) unless nobody else listens.
  process.removeAllListeners('warning')
  process.on('warning', (warning: Error & { code?: string }) => sink!.warn({ warning: warning.name, code: warning.code }, scrub(warning.message)))
}

/** Whether the frame that called `fn` is a dependency's (under node_modules) or Node's own. */
function calledFromDependency(fn: (...args: unknown[]) => void): boolean {
  const limit = Error.stackTraceLimit
  Error.stackTraceLimit = 1
  const holder: { stack?: string } = {}
  Error.captureStackTrace(holder, fn)
  Error.stackTraceLimit = limit
  const frame = holder.stack?.split('\n')[1] ?? ''
  return frame.includes('/node_modules/') || /[( ]node:/.test(frame)
}

const CLOSING = /^closing connection (\S+) \(while handling (.*)\) because of exception$/
const HOOK = /^\[(\w+)\]$/
const CLIENT_NOISE = /^(Unable to handle message of type|Received an authentication message on a connection that is already)/

function emit(level: Level, args: unknown[]): void {
  const [first, second] = args
  const closing = typeof first === 'string' ? CLOSING.exec(first) : null
  if (closing) {
    const [, socket, doc] = closing
    const error = second as { reason?: unknown; code?: unknown } | undefined
    if (typeof error?.reason === 'string' && typeof error.code === 'number') {
      // A refusal: an answer to a client, not a fault; Homeroom logs its own reason too.
      sink!.info({ doc, user: userOf(socket, doc), socket, reason: scrub(error.reason), code: error.code }, 'closed a document connection: a message was refused')
    } else {
      sink!.error({ doc, user: userOf(socket, doc), socket, err: second }, 'closed a document connection: handling a message failed')
    }
    return
  }
  const hook = typeof first === 'string' && args.length === 2 && typeof second === 'string' ? HOOK.exec(first) : null
  if (hook) {
    sink!.error({ hook: hook[1] }, scrub(`Hocuspocus hook ${hook[1]} failed: ${second}`))
    return
  }
  // What a client can make Hocuspocus say about its own frames is no error of the server's.
  if (typeof first === 'string' && CLIENT_NOISE.test(first)) level = 'debug'
  const err = args.find((a) => a instanceof Error)
  const text = formatWithOptions({ breakLength: Infinity, depth: 4 }, ...args.map((a) => (a instanceof Error ? `${a.name}: ${a.message}` : a)))
  sink![level](err ? { err } : {}, scrub(text))
}

// ---- who a connection belongs to ----------------------------------------------------------------

const instances = new Set<WeakRef<Hocuspocus>>()

/** Lets console lines about a connection of `instance` name its user (the token's `sub`). */
export function routeConsoleContext(instance: Hocuspocus): void {
  instances.add(new WeakRef(instance))
}

function userOf(socketId: string, doc: string): string | undefined {
  for (const ref of instances) {
    const instance = ref.deref()
    if (!instance) {
      instances.delete(ref)
      continue
    }
    const connection = instance.documents
      .get(doc)
      ?.getConnections()
      .find((c) => c.socketId === socketId)
    const sub = (connection?.context as { user?: { sub?: unknown } } | undefined)?.user?.sub
    if (typeof sub === 'string') return sub
  }
  return undefined
}
