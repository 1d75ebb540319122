// The user a token names, read on the client without verifying it: only for deciding what the
// interface offers (the server verifies every token and checks every write again).
import { ROLES, type Identity, type Role } from '../types.ts'

export function identityFromToken(token: string): Identity {
  const part = token.split('.')[1]
  if (!part) throw new Error('not a JWT')
  const base64 = part.replace(/-/g, '+').replace(/_/g, '/').padEnd(Math.ceil(part.length / 4) * 4, '=')
  const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0))
  const claims = JSON.parse(new TextDecoder().decode(bytes)) as Record<string, unknown>
  const list = (value: unknown): string[] => (Array.isArray(value) ? value.map(String) : [])
  const role = String(claims.role) as Role
  if (typeof claims.sub !== 'string' || !ROLES.includes(role)) throw new Error('token lacks sub or a known role')
  return {
    sub: claims.sub,
    name: typeof claims.name === 'string' ? claims.name : claims.sub,
    role,
    schools: list(claims.schools),
    classes: list(claims.classes),
    children: list(claims.children),
    buses: list(claims.buses),
  }
}
