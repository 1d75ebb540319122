// The user a token names, read on the client without verifying it: only for deciding what the
// interface offers (the server verifies every token and checks every write again).
import { decodeJwt } from 'jose'
import { ROLES, type Identity, type Role } from '../types.ts'

export function identityFromToken(token: string): Identity {
  let claims: Record<string, unknown>
  try {
    claims = decodeJwt(token)
  } catch {
    throw new Error('not a JWT')
  }
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
