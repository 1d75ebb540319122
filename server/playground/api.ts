// The playground's calls to the HTTP API, with the session's token; a refusal becomes an Error
// carrying the server's message.
import type { Session } from '@homeroom/client'

export async function getJson<T>(session: Session, path: string): Promise<T> {
  return answer<T>(await fetch(path, { headers: { Authorization: `Bearer ${session.token}` } }))
}

export async function postJson<T>(session: Session, path: string, body: unknown): Promise<T> {
  return answer<T>(await fetch(path, { method: 'POST', headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${session.token}` }, body: JSON.stringify(body) }))
}

/** The server answered with an error: its status and message. */
export class HttpFailure extends Error {
  readonly status: number
  constructor(status: number, message: string) {
    super(message)
    this.status = status
  }
}

async function answer<T>(response: Response): Promise<T> {
  const json = await response.json().catch(() => undefined)
  if (!response.ok) throw new HttpFailure(response.status, (json as { error?: { message?: string } } | undefined)?.error?.message ?? `${response.status} ${response.statusText}`)
  return json as T
}

/** A document nobody has written yet has no stored history: the server answers 404. */
export const neverWritten = (error: unknown): boolean => error instanceof HttpFailure && error.status === 404

/** `/api/v1/docs/<name>…` with each segment of the name kept as it is (names are `s1/doc/notes`). */
export const docPath = (name: string, rest = ''): string => `/api/v1/docs/${name.split('/').map(encodeURIComponent).join('/')}${rest}`
