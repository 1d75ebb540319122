// The vocabulary every surface declaration is written in. Imports nothing from Node:
// the same declarations run in the server, the command line and browsers.
import type * as Y from 'yjs'
import type { ZodType } from 'zod'

export const ROLES = ['student', 'teacher', 'parent', 'proctor', 'driver', 'admin', 'director', 'service'] as const
export type Role = (typeof ROLES)[number]

/** "Learners and staff" of the contract: everyone of the school but parents, drivers and services. */
export const LEARNERS_AND_STAFF: readonly Role[] = ['student', 'teacher', 'proctor', 'admin', 'director']

/** The verified claims of a token, normalised (absent arrays are empty). */
export interface Identity {
  sub: string
  name: string
  role: Role
  schools: string[]
  classes: string[]
  children: string[]
  buses: string[]
}

/** A parsed document name: `<school>/<surface>/<id>[/<part>/<id>]`. */
export interface DocRef {
  name: string
  school: string
  /** The surface key, e.g. `poll` or `poll/ballot`; its first word (`poll`) is the family, a folder of docs-model/surfaces/. */
  surface: string
  params: Record<string, string>
}

export type RootKind = 'map' | 'array' | 'xml' | 'text'

/** One root type of a surface's Yjs layout. `value` validates each entry (map value or array element). */
export interface RootDecl {
  kind: RootKind
  value?: ZodType
  /** Content the contract leaves open (dashboard data): no field in it means anything to the server, not even `at`. */
  opaque?: true
}

export type Op = 'insert' | 'delete'

/** What the guard knows when it checks one change. */
export interface WriteContext {
  user: Identity
  ref: DocRef
  /** The server's copy of the document, before the change is applied. */
  doc: Y.Doc
  /** Facts kept by the server outside this document (for example: the parent poll is closed). */
  facts: Facts
  /** The server's clock and how far a client-written `at` may be from it; without one (a client deciding locally) times are not checked. */
  time?: ServerTime
}

/** Time as the guard sees it: client-written times must fall within `skewMs` of `now()`, either way. */
export interface ServerTime {
  now(): number
  skewMs: number
}

/** Server-side facts a rule may consult synchronously. */
export interface Facts {
  /** A reason when the named document is frozen for client writes, else null. */
  frozen(name: string): string | null
  /** The server's copy of a related document (a ballot's poll), when the server holds it. */
  related(name: string): Y.Doc | undefined
}

export const NO_FACTS: Facts = { frozen: () => null, related: () => undefined }

/** Reads the current state of any document (from memory or storage) while deciding a read. */
export type Peek = (name: string) => Promise<Y.Doc>

/**
 * Who may write. It reads the identity and the name, and may read the document; on an empty
 * document it must hold for anyone who could ever write there (a read-only connection is given
 * to users for whom no rule holds on an empty document).
 */
export type Who = (ctx: WriteContext) => boolean

/**
 * One write rule. `path` is matched against the path of each changed item, segment by segment:
 * the root name, then map keys. `*` matches one segment, `$self` the writer's `sub`, `$<param>` a
 * parameter of the document name, and `$self:*` a key that starts with `<sub>:`. A rule grants its
 * whole subtree: `body` covers everything inside the `body` fragment.
 */
export interface WriteRule {
  path: string
  by: Who
  /**
   * Default: both. Overwriting a map key counts as an insert only; `delete` means removing an
   * entry (or array element, or text) without replacing it.
   */
  ops?: readonly Op[]
  /** Checks an inserted top-level value (map entry or array element) at `path`; returns why it is refused. */
  value?: (value: unknown, ctx: WriteContext, path: readonly string[]) => string | null
  /** For deletes: who owns the deleted value; the delete is allowed when that is the writer. */
  owner?: (value: unknown) => string | undefined
  /** Inserts into a list only at its end (an append-only log such as proctoring events). */
  append?: boolean
  /** A reason when writes under this rule are frozen right now (poll closed, board locked). */
  frozen?: (ctx: WriteContext) => string | null
}

/** A coarse read decision made from the token and the name; `content` defers to `readContent`. */
export type ReadDecision = boolean | 'content'

export interface Surface {
  /** Surface key, as in DocRef.surface. */
  key: string
  /** Name pattern after the school, with named parameters: `poll/:poll/ballot/:user`. */
  pattern: string
  layout: Record<string, RootDecl>
  read: (user: Identity, ref: DocRef) => ReadDecision
  /** For surfaces whose readers are named inside the document (chat members, group members). */
  readContent?: (user: Identity, ref: DocRef, peek: Peek) => Promise<boolean>
  /** Names of other documents whose facts the write rules consult (a ballot's poll). */
  related?: (ref: DocRef) => string[]
  writes: readonly WriteRule[]
  decode: (doc: Y.Doc) => unknown
}
