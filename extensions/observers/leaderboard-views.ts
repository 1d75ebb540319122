// Leaderboard views: after any change to a board's scores, its `periods` (weekly, monthly,
// all time) and `specialties` are derived again (docs-model/surfaces/leaderboard/state.ts) as of
// the server's clock in SCHOOL_TIMEZONE. When a week or a month begins, every board is derived
// again, so a weekly view starts empty on Monday 00:00. The check for that boundary runs in real
// time, like a coalescing window; whether it has passed is the server's clock's to say (tests
// advance a ManualClock across it).
import type { Homeroom } from '../../server/homeroom.ts'
import { applyViews, nextPeriodStart } from '../../docs-model/surfaces/leaderboard/state.ts'
import { Coalescer, contain, derive, documentsUnder, report } from './runtime.ts'
import type { Change, Observer } from './registry.ts'

const DERIVE_DELAY_MS = 50
const BOUNDARY_CHECK_MS = 1000

export class LeaderboardViewsObserver implements Observer {
  readonly name = 'leaderboard-views'
  readonly surfaces = ['leaderboard']
  private readonly app: Homeroom
  private readonly writes: Coalescer
  private timer?: NodeJS.Timeout
  private next = 0
  private running?: Promise<void>

  constructor(app: Homeroom) {
    this.app = app
    this.writes = new Coalescer(DERIVE_DELAY_MS, (error) => report(app, 'leaderboard.views', error))
  }

  start(): void {
    this.next = nextPeriodStart(this.app.clock.now(), this.app.config.schoolTimeZone)
    this.timer = setInterval(() => {
      if (this.app.clock.now() < this.next || this.running) return
      this.running = contain(this.app, 'leaderboard.period', () => this.newPeriod()).finally(() => (this.running = undefined))
    }, BOUNDARY_CHECK_MS)
    this.timer.unref()
  }

  async stop(): Promise<void> {
    clearInterval(this.timer)
    this.writes.close()
    await this.running
  }

  changed({ ref }: Change): void {
    this.writes.request(ref.name, () => this.derive(ref.name))
  }

  private derive(name: string): Promise<void> {
    return derive(this.app, this.name, name, (doc) => applyViews(doc, this.app.clock.now(), this.app.config.schoolTimeZone))
  }

  /** A week or a month began: every board's views again. */
  private async newPeriod(): Promise<void> {
    this.next = nextPeriodStart(this.app.clock.now(), this.app.config.schoolTimeZone)
    const boards = await documentsUnder(this.app.store, this.app.hocuspocus.documents.keys(), { family: 'leaderboard' }, (ref) => ref.surface === 'leaderboard')
    for (const board of boards) await this.derive(board.name)
    this.app.log.info({ boards: boards.length }, 'leaderboard period began; views derived again')
  }
}
