// Opening rules: a valid token, a well-formed name of a known surface, a school of the user's,
// and the surface's read rule. Users for whom no write rule can hold get read-only connections.
// Attempts are counted by socket and by user before anything else is done for them, and read
// rules that look inside a document get it through a Peek that never replays it per attempt
// (server/read-facts.ts), so refused attempts stay cheap.
import type { connectedPayload, Document, Extension, onAuthenticatePayload } from '@hocuspocus/server'
import { belongsTo, mayWriteAnything, NameError, readDecision, resolve, type DocRef, type Identity, type Peek } from '../docs-model/index.ts'
import { AuthError, type Identities } from '../server/identity.ts'
import { contextOf, Refusal, type HomeroomContext } from '../server/context.ts'
import { closeCodeFor, OPENING_UNAVAILABLE } from '../docs-model/refusals.ts'
import type { Limits } from './limits.ts'
import type { Metrics } from '../server/metrics.ts'
import type { Logger } from '../server/log.ts'
import { EXTENSION_PRIORITY } from './priorities.ts'

export interface AuthConfig {
  identities: Identities
  limits: Limits
  metrics: Metrics
  log: Logger
  /** Current state of a document, for read rules that depend on its content; must be cheap to call repeatedly. */
  peek: Peek
}

export class Auth implements Extension {
  readonly extensionName = 'auth'
  readonly priority = EXTENSION_PRIORITY.auth
  private readonly config: AuthConfig
  /** Each loaded document's parsed name, shared by the contexts of its connections (a copy costs about 150 B each). */
  private readonly refs = new WeakMap<Document, DocRef>()

  constructor(config: AuthConfig) {
    this.config = config
  }

  /** The whole opening decision for a verified user; throws a Refusal whose reason the client receives. */
  async authorize(user: Identity, documentName: string): Promise<{ context: HomeroomContext; readOnly: boolean }> {
    let resolved
    try {
      resolved = resolve(documentName)
    } catch (error) {
      if (error instanceof NameError) throw new Refusal(error.reason, 4400)
      throw error
    }
    const { ref, surface } = resolved
    if (!belongsTo(user, ref.school)) throw new Refusal(`forbidden: ${user.sub} is not a member of school ${ref.school}`)
    const decision = readDecision(surface, user, ref)
    if (decision === false) throw new Refusal(`forbidden: role ${user.role} may not open ${surface.pattern}`)
    if (decision === 'content' && !(await surface.readContent!(user, ref, this.config.peek))) throw new Refusal(`forbidden: ${user.sub} may not open ${ref.name}`)
    return { context: { user, ref, surface }, readOnly: !mayWriteAnything(surface, user, ref) }
  }

  async onAuthenticate(payload: onAuthenticatePayload): Promise<HomeroomContext> {
    let user: Identity | undefined
    try {
      // The socket is counted before its token is verified, the user right after (verifying is
      // cheap); both before the read rule may look at the document.
      this.config.limits.countOpening({ socket: payload.socketId })
      user = await this.config.identities.verify(payload.token)
      this.config.limits.countOpening({ user: user.sub })
      const { context, readOnly } = await this.authorize(user, payload.documentName)
      this.config.limits.admit(context.user.sub, payload.socketId, payload.documentName)
      payload.connectionConfig.readOnly = readOnly
      const loaded = payload.instance.documents.get(payload.documentName)
      context.ref = (loaded && this.refs.get(loaded)) ?? context.ref
      return context
    } catch (error) {
      const reason = (error as AuthError | Refusal).reason
      if (!reason) {
        // Ours, not the client's (the store away while reading a roster, say): Hocuspocus would
        // answer `permission-denied`, which a client takes as final.
        this.config.log.error({ err: error, doc: payload.documentName, user: user?.sub }, 'checking an opening failed')
        this.config.metrics.refuse(OPENING_UNAVAILABLE)
        throw new Refusal(OPENING_UNAVAILABLE, closeCodeFor(OPENING_UNAVAILABLE))
      }
      this.config.metrics.refuse(reason)
      // At info, with the user once the token verified (never the token); a flood over the opening rate stays at debug.
      const level = reason.startsWith('forbidden: too many opening attempts') ? 'debug' : 'info'
      this.config.log[level]({ doc: payload.documentName, user: user?.sub, reason }, 'refused to open')
      throw error
    }
  }

  async connected({ context, connection }: connectedPayload): Promise<void> {
    const ref = contextOf(context)?.ref
    if (ref && !this.refs.has(connection.document)) this.refs.set(connection.document, ref)
  }
}
