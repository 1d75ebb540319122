// Small predicates that write rules are built from.
import type { Role, Who, WriteContext } from './types.ts'

export const roles = (...allowed: Role[]): Who => (ctx) => allowed.includes(ctx.user.role)

/** The user named by a parameter of the document name (`poll/:poll/ballot/:user`). */
export const named = (param: string): Who => (ctx) => ctx.user.sub === ctx.ref.params[param]

/** Only the server's observers; no client ever satisfies it. */
export const server: Who = () => false

export const anyOf = (...whos: Who[]): Who => (ctx) => whos.some((who) => who(ctx))

/** Anyone the surface lets open the document (the auth step has already checked that). */
export const readers: Who = (_ctx: WriteContext) => true
