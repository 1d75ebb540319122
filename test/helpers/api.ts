// Calling the HTTP API in tests: JSON in, JSON (or bytes) out, with a bearer token.
import * as assert from 'uvu/assert'
import type { TestServer } from './server.ts'

export interface ApiResponse {
  status: number
  headers: Headers
  json: any
  bytes: Uint8Array
}

export async function api(
  server: Pick<TestServer, 'http'>,
  method: string,
  path: string,
  options: { token?: string; json?: unknown; body?: Uint8Array | string; headers?: Record<string, string> } = {},
): Promise<ApiResponse> {
  const headers: Record<string, string> = { ...options.headers }
  if (options.token) headers.Authorization = `Bearer ${options.token}`
  let body: BodyInit | undefined = options.body as BodyInit | undefined
  if (options.json !== undefined) {
    headers['Content-Type'] ??= 'application/json'
    body = typeof options.json === 'string' ? options.json : JSON.stringify(options.json)
  }
  const response = await fetch(`${server.http}${path}`, { method, headers, body })
  const bytes = new Uint8Array(await response.arrayBuffer())
  let json: unknown
  try {
    json = JSON.parse(new TextDecoder().decode(bytes))
  } catch {
    json = undefined
  }
  return { status: response.status, headers: response.headers, json, bytes }
}

/** Asserts the contract's error shape `{error: {code, message}}` with this status (and code). */
export function assertError(response: ApiResponse, status: number, code?: string): void {
  assert.is(response.status, status, `status (body ${JSON.stringify(response.json)})`)
  assert.type(response.json?.error?.code, 'string')
  assert.type(response.json?.error?.message, 'string')
  if (code) assert.is(response.json.error.code, code)
}
