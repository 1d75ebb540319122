// What an instance holds, read from its Prometheus text (`GET /metrics`, open to loopback).
export interface Holdings {
  documents: number
  connections: number
  sockets: number
  /** Node's active timers (prom-client's default `nodejs_active_resources{type="Timeout"}`). */
  timers: number
}

export async function holdings(http: string): Promise<Holdings> {
  const text = await (await fetch(`${http}/metrics`, { signal: AbortSignal.timeout(5000) })).text()
  const value = (pattern: RegExp) => Number(pattern.exec(text)?.[1] ?? 0)
  return {
    documents: value(/^homeroom_documents_loaded (\d+)/m),
    connections: value(/^homeroom_connections (\d+)/m),
    sockets: value(/^homeroom_sockets (\d+)/m),
    timers: value(/^nodejs_active_resources\{type="Timeout"\} (\d+)/m),
  }
}
