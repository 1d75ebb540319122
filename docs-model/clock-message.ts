// The server's time as a stateless message, `{"type":"clock","now":<ms since the epoch>}`: sent by
// the server to every document connection once opened (extensions/server-clock.ts), read by the
// client for countdowns that do not trust the device clock.

export const clockMessage = (now: number): string => JSON.stringify({ type: 'clock', now })

/** The server's time in a stateless payload, or undefined when the payload is something else. */
export function readClockMessage(payload: string): number | undefined {
  try {
    const message = JSON.parse(payload) as { type?: unknown; now?: unknown }
    return message.type === 'clock' && typeof message.now === 'number' && Number.isFinite(message.now) ? message.now : undefined
  } catch {
    return undefined
  }
}
