// The figures `s/system/status` shows (`now`, plus `at`: when they last changed), and whether the
// document already holds them, so the server writes only when one changed.

export type SystemFigures = { connections: number; documents: number; messagesPerSec: number; instances: number }

export function figuresUnchanged(now: { get(key: string): unknown }, figures: SystemFigures): boolean {
  return Object.entries(figures).every(([key, value]) => now.get(key) === value)
}
