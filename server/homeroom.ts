// What extensions, observers, routes and tools may use of a running Homeroom. It names no
// extension class, so none of them imports the wiring (server/app.ts), which imports them all.
import type { Hocuspocus } from '@hocuspocus/server'
import type { Redis } from 'ioredis'
import type * as Y from 'yjs'
import type { Clock } from './clock.ts'
import type { Config } from './config.ts'
import type { Directory } from './directory.ts'
import type { Identities } from './identity.ts'
import type { Logger } from './log.ts'
import type { Metrics } from './metrics.ts'
import type { Store } from './store/types.ts'
import type { EventStore } from './store/events.ts'
import type { Publisher } from './events/outbound.ts'

export interface Homeroom {
  readonly config: Config
  readonly log: Logger
  readonly metrics: Metrics
  readonly store: Store
  /** Events received from back ends, by id (server/events/incoming.ts). */
  readonly eventStore: EventStore
  /** Outbound events: the stream and the events webhook (server/events/outbound.ts). */
  readonly eventsOut: Publisher
  readonly identities: Identities
  /** Who the server has seen per school, and the school's members for targeting (roster plus directory). */
  readonly directory: Directory
  readonly clock: Clock
  /** Documents in memory and direct connections for server writes. */
  readonly hocuspocus: Hocuspocus
  /** The Redis connection the HTTP rate limit shares, when REDIS_URL is set (readiness probes it). */
  readonly redis: Redis | undefined
  /** Resolves once every server write made to the document so far is journaled. */
  journaled(name: string): Promise<void>
  /** The live copy of a document if loaded, else its stored state. */
  peek(name: string): Promise<Y.Doc>
  /**
   * Whether the server still serves. Hocuspocus' shutdown first stops listening, then waits for
   * every document to unload: a derived write after that would load a document again while the
   * store closes, and it would never unload.
   */
  serving(): boolean
  /** Open WebSocket connections of this instance. */
  socketCount(): number
  stats(): Record<string, unknown>
}
