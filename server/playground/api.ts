// The playground's calls to the HTTP API, with the session's token; a refusal becomes an Error
// carrying the server's message.
import type { Session } from '@homeroom/client'

export async function getJson<T>(session: Session, path: string): Promise<T> {
  return answer<T>(await fetch(path, { headers: { Authorization: `Bearer ${session.token}` } }))
}

export async function postJson<T>(session: Session, path: string, body: unknown): Promise<T> {
  return answer<T>(await fetch(path, { method: 'POST', headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${session.token}` }, body: JSON.stringify(body) }))
}

async function answer<T>(response: Response): Promise<T> {
  const json = await response.json().catch(() => undefined)
  if (!response.ok) throw new Error((json as { error?: { message?: string } } | undefined)?.error?.message ?? `${response.status} ${response.statusText}`)
  return json as T
}

/** `/api/v1/docs/<name>…` with each segment of the name kept as it is (names are `s1/doc/notes`). */
export const docPath = (name: string, rest = ''): string => `/api/v1/docs/${name.split('/').map(encodeURIComponent).join('/')}${rest}`
