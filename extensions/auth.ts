// Opening rules: a valid token, a well-formed name of a known surface, a school of the user's,
// and the surface's read rule. Users for whom no write rule can hold get read-only connections.
import type { Extension, onAuthenticatePayload } from '@hocuspocus/server'
import { mayWriteAnything, NameError, resolve, type Identity, type Peek } from '../docs-model/index.ts'
import { AuthError, type Identities } from '../server/identity.ts'
import { Refusal, type HomeroomContext } from '../server/context.ts'
import type { Limits } from './limits.ts'
import type { Metrics } from '../server/metrics.ts'
import type { Logger } from '../server/log.ts'

export interface AuthConfig {
  identities: Identities
  limits: Limits
  metrics: Metrics
  log: Logger
  /** Current state of a document, for read rules that depend on its content. */
  peek: Peek
}

export const belongsTo = (user: Identity, school: string): boolean => user.schools.includes(school) || user.schools[0] === '*'

export class Auth implements Extension {
  readonly extensionName = 'auth'
  readonly priority = 900
  private readonly config: AuthConfig

  constructor(config: AuthConfig) {
    this.config = config
  }

  /** The whole opening decision; throws a Refusal or AuthError whose reason the client receives. */
  async authorize(token: string | null | undefined, documentName: string): Promise<{ context: HomeroomContext; readOnly: boolean }> {
    const user = await this.config.identities.verify(token)
    let resolved
    try {
      resolved = resolve(documentName)
    } catch (error) {
      if (error instanceof NameError) throw new Refusal(error.reason, 4400)
      throw error
    }
    const { ref, surface } = resolved
    if (!belongsTo(user, ref.school)) throw new Refusal(`forbidden: ${user.sub} is not a member of school ${ref.school}`)
    if (!(await this.mayRead(user, resolved))) throw new Refusal(`forbidden: role ${user.role} may not open ${surface.pattern}`)
    return { context: { user, ref, surface }, readOnly: !mayWriteAnything(surface, user, ref) }
  }

  async onAuthenticate(payload: onAuthenticatePayload): Promise<HomeroomContext> {
    try {
      const { context, readOnly } = await this.authorize(payload.token, payload.documentName)
      this.config.limits.admit(context.user.sub, payload.socketId, payload.documentName)
      payload.connectionConfig.readOnly = readOnly
      return context
    } catch (error) {
      const reason = (error as AuthError | Refusal).reason
      if (!reason) throw error
      this.config.metrics.refuse(reason)
      this.config.log.debug({ doc: payload.documentName, reason }, 'refused to open')
      throw error
    }
  }

  private async mayRead(user: Identity, { ref, surface }: ReturnType<typeof resolve>): Promise<boolean> {
    if (user.role === 'admin' || user.role === 'director') return true
    const decision = surface.read(user, ref)
    if (decision !== 'content') return decision
    return surface.readContent ? surface.readContent(user, ref, this.config.peek) : false
  }
}
