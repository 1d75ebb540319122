// One chaos run: the services and instances, the school's clients behind the load balancer, the
// workload with faults at seeded times, the repair, then the invariants. Bounded: every wait has
// a deadline, and a wait that runs out is reported as a violation rather than hanging the run.
import { randomBytes } from 'node:crypto'
import { PgStore } from '../../server/store/postgres.ts'
import { mintToken } from '../../test/helpers/tokens.ts'
import { Rng } from '../../test/helpers/random.ts'
import { startBalancer } from './balancer.ts'
import { describe, schedule, type Fault, type FaultKind } from './faults.ts'
import { Instances } from './instances.ts'
import { checkDerived, checkReplicas, Checks, type Check } from './invariants.ts'
import { holdings } from './metrics.ts'
import { prepare, school as makeSchool, SCHOOL, type School } from './school.ts'
import { startServices, type ChaosServices } from './services.ts'
import { Workload, type WorkloadCounts } from './workload.ts'

export interface ChaosOptions {
  instances: number
  /** Length of the workload (faults included), in seconds. */
  seconds: number
  seed: string
  students: number
  /** Where the instances' log lines are written. */
  logDir: string
  log(line: string): void
}

export interface ChaosReport {
  seed: string
  clients: number
  faults: Fault[]
  injected: Record<FaultKind, number>
  checks: Check[]
  violations: number
  counts: WorkloadCounts
  wallMs: number
  /** Per instance, its error and fatal log lines (expected during outages; the evidence when a check fails). */
  errors: Record<string, string[]>
  logDir: string
}

const PING_INTERVAL_MS = 1000
const PING_TIMEOUT_MS = 2000
const ESCALATE_AFTER_S = 3
const MAX_ESCALATIONS = 2
const POOL_SIZE = 4
/** How long the end of the run waits for acknowledgements, convergence and unloading. */
const SETTLE_MS = 90_000

export async function runChaos(options: ChaosOptions): Promise<ChaosReport> {
  const started = Date.now()
  const { seed, log } = options
  const services = await startServices('chaos')
  const prefix = `chaos-${randomBytes(4).toString('hex')}:`
  const instances = new Instances(options.instances, {
    DATABASE_URL: services.databaseUrl,
    REDIS_URL: services.redis.url,
    REDIS_KEY_PREFIX: prefix,
    PG_POOL_SIZE: String(POOL_SIZE),
    WS_PING_INTERVAL_MS: String(PING_INTERVAL_MS),
    WS_PING_TIMEOUT_MS: String(PING_TIMEOUT_MS),
    EMERGENCY_ESCALATE_AFTER_S: String(ESCALATE_AFTER_S),
    EMERGENCY_MAX_ESCALATIONS: String(MAX_ESCALATIONS),
    ALERT_WEBHOOK_URL: services.alerts.url,
    ALERT_WEBHOOK_SECRET: 'chaos-alert-secret',
    EVENTS_WEBHOOK_URL: services.events.url,
    EVENTS_WEBHOOK_SECRET: 'chaos-events-secret',
    // The checks ask every instance for every document at the end.
    MAX_HTTP_REQUESTS_PER_SEC: '5000',
  }, options.logDir)
  const school = makeSchool(options.students)
  const checks = new Checks()
  const pick = new Rng(`${seed}:balancer`)
  const balancer = await startBalancer(() => {
    const up = instances.up()
    return up.length > 0 ? pick.pick(up).port : undefined
  })
  const store = new PgStore(services.db.url, { poolSize: 2 })
  try {
    await instances.startAll()
    const timers = await Promise.all(instances.list.map((i) => holdings(i.http).then((h) => h.timers)))
    const adminToken = await mintToken(school.admin.claims, { ttl: '4h' })
    await putRoster(instances.list[0].http, adminToken, school)
    for (const actor of school.all) await actor.connect(balancer.url)
    await prepare(school, options.seconds + 600)
    await settle(school, 30_000, checks.add('the set-up was acknowledged (copies)'))

    const duration = options.seconds * 1000
    const faults = schedule({ seed, duration, instances: options.instances, clients: school.all.length, pingTimeoutMs: PING_TIMEOUT_MS })
    log(`seed ${seed}: ${options.instances} instances, ${school.all.length} clients, ${options.seconds} s of workload, ${faults.length} faults:`)
    for (const fault of faults) log(`  ${describe(fault)}`)
    const workload = new Workload(school, {
      seed,
      http: balancer.http,
      emergencyAt: Array.from({ length: Math.max(1, Math.round(options.seconds / 60)) }, (_, i) => 2000 + i * 60_000),
      silentEvery: 3,
      log,
    })
    const began = Date.now()
    const day = workload.run()
    const injected = await inject(faults, seed, began, instances, services, school, workload, log)
    await new Promise((r) => setTimeout(r, Math.max(0, began + duration - Date.now())))
    workload.stop()
    await day
    log(`workload stopped after ${((Date.now() - began) / 1000).toFixed(1)} s: ${workload.counts.writes} writes; settling`)

    await settle(school, SETTLE_MS, checks.add('every client write was acknowledged once the faults were repaired (copies)'))
    await converge(school, SETTLE_MS)
    const evidence = {
      store,
      school,
      copies: school.all.flatMap((a) => [...a.copies.values()]),
      instances: instances.list.map((i) => ({ id: i.id, http: i.http })),
      adminToken,
      alerts: services.alerts.deliveries,
      events: services.events.deliveries,
      outbound: [] as string[],
      notifications: workload.counts.notifications,
      maxEscalations: MAX_ESCALATIONS,
    }
    await checkReplicas(evidence, checks)
    for (const actor of school.all) actor.close()
    await leftovers(instances, timers, checks)
    evidence.outbound = await outboundIds(services, prefix)
    await checkDerived(evidence, checks)
    const crashed = checks.add('no instance exited unless the run killed it (instances)')
    for (const instance of instances.list) {
      crashed.count++
      crashed.violations.push(...instance.crashes)
    }
    return { seed, clients: school.all.length, faults, injected, checks: checks.list, violations: checks.violations, counts: workload.counts, wallMs: Date.now() - started, logDir: options.logDir, errors: Object.fromEntries(instances.list.map((i) => [i.id, i.errors])) }
  } finally {
    for (const actor of school.all) actor.close()
    await store.close()
    await instances.stop()
    await balancer.close()
    await services.close()
  }
}

async function putRoster(http: string, token: string, school: School): Promise<void> {
  const response = await fetch(`${http}/api/v1/schools/${SCHOOL}/roster`, { method: 'PUT', headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' }, body: JSON.stringify(school.roster) })
  if (response.status !== 200) throw new Error(`roster: ${response.status} ${await response.text()}`)
}

/** Runs the schedule; every fault is repaired before the next one starts. */
async function inject(faults: Fault[], seed: string, began: number, instances: Instances, services: ChaosServices, school: School, workload: Workload, log: (line: string) => void): Promise<Record<FaultKind, number>> {
  const injected: Record<FaultKind, number> = { kill: 0, pause: 0, redis: 0, postgres: 0, clients: 0 }
  const rng = new Rng(`${seed}:drops`)
  const wait = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, ms)))
  for (const fault of faults) {
    await wait(began + fault.at - Date.now())
    log(`  now: ${describe(fault)}`)
    injected[fault.kind]++
    if (fault.kind === 'kill') {
      await instances.kill(fault.target)
      await wait(fault.lasts)
      await instances.start(fault.target)
    } else if (fault.kind === 'pause') {
      instances.pause(fault.target)
      await wait(fault.lasts)
      instances.resume(fault.target)
    } else if (fault.kind === 'redis') {
      await services.redis.stop()
      await wait(fault.lasts)
      await services.redis.start()
    } else if (fault.kind === 'postgres') {
      await services.proxy.cut()
      await wait(fault.lasts)
      await services.proxy.restore()
    } else {
      for (let i = 0; i < fault.target; i++) workload.dropMidUpdate(rng.pick(school.all), rng)
    }
  }
  return injected
}

/** Waits until the server acknowledged every copy's changes; those still pending are violations. */
async function settle(school: School, deadlineMs: number, check: Check): Promise<void> {
  const copies = school.all.flatMap((a) => [...a.copies.values()].map((copy) => ({ actor: a, copy })))
  const pending = () => copies.filter(({ actor, copy }) => copy.refusals.length === 0 && !actor.settled(copy.name))
  const deadline = Date.now() + deadlineMs
  while (pending().length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50))
  check.count += copies.length
  for (const { copy } of pending()) check.violations.push(`${copy.user} on ${copy.name}: not acknowledged (synced ${copy.synced}, ${copy.retries} reopenings)`)
}

/** Waits (bounded) until the copies of each document agree; the checks then say whether they did. */
async function converge(school: School, deadlineMs: number): Promise<void> {
  const { snapshot, equalSnapshots } = await import('yjs')
  const byDoc = new Map<string, Array<import('yjs').Doc>>()
  for (const actor of school.all) for (const copy of actor.copies.values()) if (copy.refusals.length === 0) byDoc.set(copy.name, [...(byDoc.get(copy.name) ?? []), copy.doc])
  const apart = () => [...byDoc.values()].some((docs) => docs.some((d) => !equalSnapshots(snapshot(docs[0]), snapshot(d))))
  const deadline = Date.now() + deadlineMs
  while (apart() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100))
}

/** After the clients left: every instance unloads every document and drops every connection, and its timers fall back. */
async function leftovers(instances: Instances, timers: number[], checks: Checks): Promise<void> {
  const check = checks.add(`no document, connection, socket or timer left on an instance after the clients left (instances; timers at most the idle count + ${POOL_SIZE} pool connections)`)
  for (const [index, instance] of instances.list.entries()) {
    check.count++
    const clean = (h: Awaited<ReturnType<typeof holdings>>) => h.documents === 0 && h.connections === 0 && h.sockets === 0 && h.timers <= timers[index] + POOL_SIZE
    const deadline = Date.now() + SETTLE_MS
    let last = await holdings(instance.http)
    while (!clean(last) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 200))
      last = await holdings(instance.http)
    }
    if (!clean(last)) check.violations.push(`${instance.id} still holds ${JSON.stringify(last)} (idle timers at start: ${timers[index]})`)
  }
}

async function outboundIds(services: ChaosServices, prefix: string): Promise<string[]> {
  const redis = services.redis.client()
  try {
    const entries = await redis.xrange(`${prefix}events-out`, '-', '+')
    return entries.map(([, fields]) => {
      for (let i = 0; i < fields.length; i += 2) if (fields[i] === 'id') return fields[i + 1]
      return ''
    })
  } finally {
    redis.disconnect()
  }
}
