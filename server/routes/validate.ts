// Request bodies are hostile until zod says otherwise; the first problem becomes a 400 naming its path.
import type { ZodType } from 'zod'
import { HttpError } from '../http.ts'

export function parseBody<T>(schema: ZodType<T>, body: unknown): T {
  const parsed = schema.safeParse(body)
  if (parsed.success) return parsed.data
  const issue = parsed.error.issues[0]
  const path = issue.path.length > 0 ? issue.path.join('.') : 'body'
  throw new HttpError(400, 'bad-request', `${path}: ${issue.message}`)
}
