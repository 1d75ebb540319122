// The chaos run's Homeroom instances: real `homeroom serve` child processes the run may SIGKILL
// and restart (on the same data directory, a new port), SIGSTOP and SIGCONT. Each keeps its
// error lines, and an exit the run did not cause is recorded as a crash.
import { spawn, type ChildProcess } from 'node:child_process'
import { createWriteStream, mkdirSync, mkdtempSync, rmSync, type WriteStream } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { testEnv } from '../../test/helpers/server.ts'

/** Children still running when this process exits (a crash of the run) are killed with it. */
const orphans = new Set<ChildProcess>()
process.once('exit', () => {
  for (const child of orphans) child.kill('SIGKILL')
})

export type InstanceState = 'up' | 'paused' | 'down'

export interface Instance {
  id: string
  state: InstanceState
  port: number
  http: string
  child?: ChildProcess
  exited?: Promise<void>
  /** Error and fatal log lines, in order. */
  errors: string[]
  /** Exits the run did not cause. */
  crashes: string[]
}

export class Instances {
  readonly list: Instance[]
  private readonly dirs: string[]
  private readonly env: Record<string, string>
  private readonly logs: WriteStream[]

  /** Every line each instance writes goes to `<logDir>/<id>.log`, kept after the run as evidence. */
  constructor(count: number, env: Record<string, string>, logDir: string) {
    this.env = env
    mkdirSync(logDir, { recursive: true })
    this.logs = Array.from({ length: count }, (_, i) => createWriteStream(join(logDir, `chaos-${i + 1}.log`)))
    this.dirs = Array.from({ length: count }, () => mkdtempSync(join(tmpdir(), 'homeroom-chaos-')))
    this.list = this.dirs.map((_, i) => ({ id: `chaos-${i + 1}`, state: 'down', port: 0, http: '', errors: [], crashes: [] }))
  }

  async startAll(): Promise<void> {
    await Promise.all(this.list.map((_, i) => this.start(i)))
  }

  /** The instances a load balancer's health check would send new connections to. */
  up(): Instance[] {
    return this.list.filter((i) => i.state === 'up')
  }

  async start(index: number): Promise<void> {
    const instance = this.list[index]
    const child = spawn(process.execPath, ['scripts/homeroom.ts', 'serve'], {
      env: { ...process.env, ...testEnv(this.dirs[index], { ...this.env, INSTANCE_ID: instance.id, LOG_LEVEL: 'info' }) },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    instance.child = child
    orphans.add(child)
    child.once('exit', () => orphans.delete(child))
    instance.exited = new Promise((resolve) =>
      child.once('exit', (code, signal) => {
        if (instance.child === child && instance.state !== 'down') instance.crashes.push(`${instance.id} exited with ${code ?? signal}`)
        resolve()
      }),
    )
    const log = this.logs[index]
    createInterface({ input: child.stderr! }).on('line', (line) => {
      log.write(`stderr: ${line}\n`)
      instance.errors.push(`stderr: ${line}`)
    })
    instance.port = await new Promise<number>((resolve, reject) => {
      createInterface({ input: child.stdout! }).on('line', (line) => {
        log.write(`${line}\n`)
        let entry: { port?: unknown; level?: unknown; msg?: unknown }
        try {
          entry = JSON.parse(line)
        } catch {
          return
        }
        if (typeof entry.port === 'number') resolve(entry.port)
        if (typeof entry.level === 'number' && entry.level >= 50) instance.errors.push(line)
      })
      void instance.exited!.then(() => reject(new Error(`${instance.id} exited before listening`)))
    })
    instance.http = `http://127.0.0.1:${instance.port}`
    instance.state = 'up'
  }

  async kill(index: number): Promise<void> {
    const instance = this.list[index]
    if (instance.state === 'down') return
    instance.state = 'down'
    instance.child!.kill('SIGKILL')
    await instance.exited
  }

  pause(index: number): void {
    const instance = this.list[index]
    if (instance.state !== 'up') return
    instance.child!.kill('SIGSTOP')
    instance.state = 'paused'
  }

  resume(index: number): void {
    const instance = this.list[index]
    if (instance.state !== 'paused') return
    instance.child!.kill('SIGCONT')
    instance.state = 'up'
  }

  /** Stops every instance gracefully (a paused one is woken first), then removes the data directories. */
  async stop(): Promise<void> {
    for (const [i, instance] of this.list.entries()) {
      this.resume(i)
      if (instance.state === 'up') {
        instance.state = 'down'
        instance.child!.kill('SIGTERM')
      }
    }
    await Promise.all(this.list.map((i) => i.exited))
    for (const dir of this.dirs) rmSync(dir, { recursive: true, force: true })
    await Promise.all(this.logs.map((log) => new Promise((r) => log.end(r))))
  }
}
