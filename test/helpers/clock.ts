// A clock a test moves by hand (server/clock.ts): deadlines fire when the test advances past
// them, however loaded the machine is. Real time still runs for I/O; only the server's timers
// and `now()` follow this clock.
import type { Clock, Timer } from '../../server/clock.ts'

interface Pending extends Timer {
  at: number
  fire: () => void
}

export class ManualClock implements Clock {
  private time: number
  private readonly pending = new Set<Pending>()

  constructor(start = Date.now()) {
    this.time = start
  }

  now(): number {
    return this.time
  }

  setTimeout(fire: () => void, delayMs: number): Timer {
    const timer: Pending = { at: this.time + Math.max(0, delayMs), fire, unref: () => timer }
    this.pending.add(timer)
    return timer
  }

  clearTimeout(timer: Timer | undefined): void {
    this.pending.delete(timer as Pending)
  }

  /** Moves time forward by `ms`, firing every timer that falls due, earliest first, as time passes it. */
  async advance(ms: number): Promise<void> {
    const until = this.time + ms
    for (;;) {
      const next = [...this.pending].filter((t) => t.at <= until).sort((a, b) => a.at - b.at)[0]
      if (!next) break
      this.pending.delete(next)
      this.time = Math.max(this.time, next.at)
      next.fire()
      // Lets the fired task start its I/O before the next timer fires.
      await new Promise((resolve) => setImmediate(resolve))
    }
    this.time = until
  }

  /**
   * Moves time forward to `at` (not back: an earlier `at` only fires what is already due), so a
   * test can name a deadline rather than a distance, and repeat the call until a timer armed
   * late (after asynchronous work) has fired.
   */
  advanceTo(at: number): Promise<void> {
    return this.advance(Math.max(0, at - this.time))
  }

  /** Timers waiting to fire. */
  get waiting(): number {
    return this.pending.size
  }
}
