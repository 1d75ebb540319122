// The faults of a chaos run, at seeded random times: an instance SIGKILLed and restarted, an
// instance paused (SIGSTOP) for longer than the ping timeout and resumed, Redis killed and
// restarted, PostgreSQL's connections cut (at the proxy) and restored, and clients whose socket
// drops right after a write. Instance, Redis and PostgreSQL faults do not overlap one another;
// the schedule first takes each kind once, in a seeded order, then picks at random.
import { Rng } from '../../test/helpers/random.ts'

export type FaultKind = 'kill' | 'pause' | 'redis' | 'postgres' | 'clients'

export interface Fault {
  kind: FaultKind
  /** Milliseconds after the workload began. */
  at: number
  /** How long the fault lasts before the repair (kill: until the restart). */
  lasts: number
  /** The instance (kill, pause) or how many clients drop (clients). */
  target: number
}

export interface ScheduleOptions {
  seed: string
  /** Milliseconds of workload the faults fall within. */
  duration: number
  instances: number
  clients: number
  /** The instances' ping timeout: a pause lasts longer. */
  pingTimeoutMs: number
}

const KINDS: FaultKind[] = ['kill', 'pause', 'redis', 'postgres', 'clients']
/** Faults begin once the day is under way and end in time for the repair before the workload stops. */
const WARM_UP_MS = 4000
const COOL_DOWN_MS = 4000

export function schedule(options: ScheduleOptions): Fault[] {
  const rng = new Rng(`${options.seed}:faults`)
  const order = [...KINDS].sort(() => rng.next() - 0.5)
  const faults: Fault[] = []
  let at = WARM_UP_MS
  for (;;) {
    const kind = faults.length < order.length ? order[faults.length] : rng.pick(KINDS)
    const lasts = duration(kind, rng, options.pingTimeoutMs)
    if (at + lasts > options.duration - COOL_DOWN_MS) break
    const target = kind === 'clients' ? rng.range(1, Math.max(1, Math.floor(options.clients / 4))) : rng.int(options.instances)
    faults.push({ kind, at, lasts, target })
    at += lasts + rng.range(1500, 4000)
  }
  return faults
}

function duration(kind: FaultKind, rng: Rng, pingTimeoutMs: number): number {
  switch (kind) {
    case 'kill':
      return rng.range(500, 2500)
    case 'pause':
      return pingTimeoutMs + rng.range(1000, 3000)
    case 'redis':
      return rng.range(1500, 4000)
    case 'postgres':
      return rng.range(1000, 3000)
    case 'clients':
      return 0
  }
}

export function describe(fault: Fault): string {
  const at = `t+${(fault.at / 1000).toFixed(1)}s`
  switch (fault.kind) {
    case 'kill':
      return `${at} SIGKILL instance ${fault.target + 1}, restart after ${fault.lasts} ms`
    case 'pause':
      return `${at} SIGSTOP instance ${fault.target + 1} for ${fault.lasts} ms, then SIGCONT`
    case 'redis':
      return `${at} Redis killed for ${fault.lasts} ms, then restarted`
    case 'postgres':
      return `${at} PostgreSQL connections cut for ${fault.lasts} ms`
    case 'clients':
      return `${at} ${fault.target} client(s) drop their socket just after a write, and come back`
  }
}
