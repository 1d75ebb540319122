// The kinds of device a client may say it runs on, in the `device` parameter of its WebSocket URL
// (sent before any token). Informational only: shown in statistics and outbound events, never
// consulted by a rule.
export const DEVICE_KINDS = ['desktop', 'laptop', 'tablet', 'phone', 'chromebook', 'tv', 'other'] as const
export type DeviceKind = (typeof DEVICE_KINDS)[number]

/** A reported kind as the server keeps it: one of DEVICE_KINDS, else `unknown`. */
export const deviceKind = (value: string | null | undefined): DeviceKind | 'unknown' => (DEVICE_KINDS as readonly string[]).includes(value ?? '') ? (value as DeviceKind) : 'unknown'

/** The WebSocket URL with the device kind as its `device` parameter. */
export function withDevice(url: string, device: DeviceKind): string {
  const withParam = new URL(url)
  withParam.searchParams.set('device', device)
  return withParam.toString()
}
