// A real SQLite store whose operations can be made to fail on demand, to test error paths.
import { SqliteStore } from '../../server/store/sqlite.ts'

export type FaultyOp = 'append' | 'latestSnapshot' | 'writeSnapshot' | 'roster'

export class FaultyStore extends SqliteStore {
  /** Remaining failures per operation; -1 fails forever. */
  readonly faults = new Map<FaultyOp, number>()
  /** Fails the load of documents whose name contains this text. */
  failLoadsOf?: string
  /** Called after each journal entry is stored: a test arms a fault at the moment a document is written. */
  appended?: (doc: string) => void
  /** While set, journal appends wait for it (a slow store); `held` counts those waiting. */
  hold?: Promise<void>
  held = 0

  fail(op: FaultyOp, times = -1): void {
    this.faults.set(op, times)
  }

  heal(): void {
    this.faults.clear()
    this.failLoadsOf = undefined
  }

  private trip(op: FaultyOp): void {
    const left = this.faults.get(op)
    if (left === undefined || left === 0) return
    if (left > 0) this.faults.set(op, left - 1)
    throw new Error(`injected ${op} failure`)
  }

  private async wait(): Promise<void> {
    if (!this.hold) return
    this.held++
    await this.hold
    this.held--
  }

  override async append(...args: Parameters<SqliteStore['append']>) {
    await this.wait()
    this.trip('append')
    const seq = await super.append(...args)
    this.appended?.(args[0])
    return seq
  }

  override async record(...args: Parameters<SqliteStore['record']>) {
    await this.wait()
    this.trip('append')
    await super.record(...args)
    this.appended?.(args[0])
  }

  override async latestSnapshot(...args: Parameters<SqliteStore['latestSnapshot']>) {
    if (this.failLoadsOf && args[0].includes(this.failLoadsOf)) throw new Error('injected load failure')
    this.trip('latestSnapshot')
    return super.latestSnapshot(...args)
  }

  override async writeSnapshot(...args: Parameters<SqliteStore['writeSnapshot']>) {
    this.trip('writeSnapshot')
    return super.writeSnapshot(...args)
  }

  override async roster(...args: Parameters<SqliteStore['roster']>) {
    this.trip('roster')
    return super.roster(...args)
  }
}
