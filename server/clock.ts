// Time as the server's timers and derivations see it. Production uses the system clock; tests
// pass a clock they advance by hand, so deadlines (exam closes, escalations, stale buses) fire
// when the test says, not after real seconds that a loaded machine stretches.

export interface Timer {
  unref(): unknown
}

export interface Clock {
  now(): number
  setTimeout(fire: () => void, delayMs: number): Timer
  clearTimeout(timer: Timer | undefined): void
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fire, delayMs) => setTimeout(fire, delayMs),
  clearTimeout: (timer) => clearTimeout(timer as NodeJS.Timeout | undefined),
}
