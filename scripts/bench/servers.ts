// What the benchmarks share: a server under measurement in its own process pinned to one core
// (`server-process.ts`), the load generator's own pinning, and the statistics they print.
import { spawn, type ChildProcess } from 'node:child_process'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import type { ServerKind, Usage } from './server-process.ts'

export type { ServerKind, Usage }

/** The core the servers run on; the load generator stays off it (`LOAD_CPUS`). */
export const SERVER_CPU = process.env.SERVER_CPU ?? '1'
export const LOAD_CPUS = process.env.LOAD_CPUS ?? '0'

export interface MeasuredServer {
  kind: ServerKind
  port: number
  url: string
  usage(): Promise<Usage>
  /** CPU microseconds used so far, without the full GC `usage` makes. */
  cpu(): Promise<number>
  stop(): Promise<void>
}

const entry = fileURLToPath(new URL('./server-process.ts', import.meta.url))

/** Spawns `command args` pinned with taskset to `cpus`, with Node's own flags and an IPC channel. */
export function spawnPinned(cpus: string, script: string, args: string[], stdout: 'pipe' | 'inherit' = 'pipe'): ChildProcess {
  return spawn('taskset', ['-c', cpus, process.execPath, '--disable-warning=ExperimentalWarning', '--expose-gc', script, ...args], {
    stdio: ['ignore', stdout, 'inherit', 'ipc'],
  })
}

/** Requests over a child's IPC channel, answered by `id`. */
export function ipc<T>(child: ChildProcess): (message: Record<string, unknown>) => Promise<T> {
  let next = 0
  const waiting = new Map<number, (value: T) => void>()
  child.on('message', (message: { id: number } & T) => {
    waiting.get(message.id)?.(message)
    waiting.delete(message.id)
  })
  return (message) =>
    new Promise<T>((resolve) => {
      const id = next++
      waiting.set(id, resolve)
      child.send({ ...message, id })
    })
}

export async function startMeasured(kind: ServerKind, env: Record<string, string> = {}): Promise<MeasuredServer> {
  const child = spawnPinned(SERVER_CPU, entry, [kind, JSON.stringify(env)])
  const lines = createInterface({ input: child.stdout! })
  const port = await new Promise<number>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`${kind} server exited with ${code}`)))
    lines.once('line', (line) => resolve((JSON.parse(line) as { port: number }).port))
  })
  const request = ipc<{ usage?: Usage; cpuMicros?: number }>(child)
  return {
    kind,
    port,
    url: `ws://127.0.0.1:${port}`,
    usage: async () => (await request({ op: 'usage' })).usage!,
    cpu: async () => (await request({ op: 'cpu' })).cpuMicros!,
    stop: async () => {
      await request({ op: 'stop' })
    },
  }
}

export const quantile = (values: readonly number[], q: number): number => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]
}
export const median = (values: readonly number[]): number => quantile(values, 0.5)
/** `min–max` of a figure over the rounds, as the README's table shows them. */
export const spread = (values: readonly number[], digits = 2): string =>
  `${Math.min(...values).toFixed(digits)}–${Math.max(...values).toFixed(digits)}`
