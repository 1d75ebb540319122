// Presence (awareness) a client cannot forge: every state's identity fields are overwritten with
// the identity from the token, a connection speaks for exactly one awareness client (the first it
// sends a state for, unless another live connection already owns that id), a state has a size cap,
// and each connection has a rate cap (updates over it are dropped; the client's next update, at
// the latest its 15 s heartbeat, carries the state again).
//
// How Hocuspocus 4.7 hands states to this hook (MessageReceiver, Awareness case): it applies the
// client's update to a scratch Awareness, passes that scratch's `states` map, then re-encodes and
// applies to the document's awareness exactly the ids left in the map. So deleting an entry here
// means it is neither applied nor broadcast. Two consequences of the scratch:
// - its own random client id sits first in the map with the empty state `{}` (clock 0, which no
//   Awareness applies); it must not be taken for the connection's client, so it is removed;
// - removals (null states) never reach the map: the scratch deletes them, so Hocuspocus drops
//   every client's removals, its own included (its state goes when its connection closes).
import client from 'prom-client'
import { equalityDeep } from 'lib0/function'
import * as Y from 'yjs'
import type { OwnerStore } from '../server/guard/client-ids.ts'
import type { beforeHandleAwarenessPayload, Connection, Document, Extension } from '@hocuspocus/server'
import { contextOf, Refusal, type HomeroomContext } from '../server/context.ts'
import type { Config } from '../server/config.ts'
import type { Metrics } from '../server/metrics.ts'
import { EXTENSION_PRIORITY } from './priorities.ts'

export interface PresenceConfig {
  limits: Pick<Config['limits'], 'awarenessBytes' | 'awarenessPerSec'>
  metrics: Metrics
  /** Where a connection's awareness id is recorded as its user's Yjs client id (see server/guard/client-ids.ts). */
  owners?: OwnerStore
}

interface Window {
  startedAt: number
  count: number
}

/**
 * Top-level keys that name someone, compared without case, `_`, `-` or spaces (so `userId`,
 * `user_id` and `UserID` are one key), and what the token puts there. A Map, not an object
 * literal: a key such as `constructor` must not find Object.prototype's.
 */
const IDENTITY_KEYS = new Map<string, (user: HomeroomContext['user']) => unknown>([
  ['user', (user) => ({ id: user.sub, name: user.name, role: user.role })],
  ['id', (user) => user.sub],
  ['sub', (user) => user.sub],
  ['userid', (user) => user.sub],
  ['name', (user) => user.name],
  ['username', (user) => user.name],
  ['displayname', (user) => user.name],
  ['role', (user) => user.role],
  ['userrole', (user) => user.role],
])
const identityKey = (key: string): string => key.toLowerCase().replace(/[\s_-]/g, '')

export class Presence implements Extension {
  readonly extensionName = 'presence'
  readonly priority = EXTENSION_PRIORITY.presence
  private readonly config: PresenceConfig
  private readonly windows = new WeakMap<Connection, Window>()
  /** Per document, the live connection that introduced each awareness client (O(1) per state, also with hundreds of viewers). */
  private readonly owners = new WeakMap<Document, Map<number, Connection>>()
  /** The one awareness client id each connection (one per document and socket) speaks for. */
  private readonly ownId = new WeakMap<Connection, number>()
  private readonly dropped: client.Counter

  constructor(config: PresenceConfig) {
    this.config = config
    this.dropped = new client.Counter({
      name: 'homeroom_awareness_dropped_total',
      help: 'Awareness states dropped: over the rate cap, naming a client another connection owns, or a second client of one connection',
      labelNames: ['reason'],
      registers: [config.metrics.registry],
    })
  }

  async beforeHandleAwareness({ states, context, connection, document }: beforeHandleAwarenessPayload): Promise<void> {
    if (!connection) return // from Redis or the server: already stamped where it entered
    dropScratchEntry(states)
    const ctx = contextOf(context)
    if (!ctx) {
      states.clear()
      return
    }
    let owners = this.owners.get(document)
    if (!owners) this.owners.set(document, (owners = new Map()))
    const held = document.awareness.getStates()
    // Counted once per message: a flood of 1,000 ids should not cost 1,000 metric updates.
    const drops = { 'foreign-client': 0, 'extra-client': 0 }
    const drop = (clientId: number, reason: keyof typeof drops) => {
      states.delete(clientId)
      drops[reason]++
    }
    for (const [clientId, state] of states) {
      const own = this.ownId.get(connection)
      if (clientId === own) continue
      const heldState = held.get(clientId)
      // y-websocket clients send every state they receive back unchanged; such a copy attempts nothing.
      if (heldState !== undefined && sameState(state, heldState)) {
        states.delete(clientId)
        continue
      }
      const owner = owners.get(clientId)
      if (owner && owner !== connection && document.hasConnection(owner)) {
        drop(clientId, 'foreign-client')
        continue
      }
      if (heldState !== undefined) {
        // A state the server holds that no live connection here owns: another instance's client, or
        // one left by a connection (here or on an instance that died) that has not been timed out
        // yet. Only the user it is stamped with may take it over: that is a reconnect.
        if (own !== undefined || heldState.user?.id !== ctx.user.sub) {
          drop(clientId, 'foreign-client')
          continue
        }
      }
      // Only a state introduces the connection's client; a removal (see the top) never does.
      if (own === undefined && isState(state)) {
        this.claim(document, owners, connection, clientId)
        continue
      }
      drop(clientId, 'extra-client')
    }
    for (const [reason, count] of Object.entries(drops)) if (count > 0) this.dropped.inc({ reason }, count)
    // Left: at most the connection's own client. Only what would be applied counts against the rate.
    if (states.size === 0) return
    if (!this.admit(connection)) {
      this.dropped.inc({ reason: 'rate' }, states.size)
      states.clear()
      return
    }
    for (const state of states.values()) {
      // Removals never arrive here today (see the top); should they, only the owner's pass.
      if (!isState(state)) continue
      stampIdentity(state, ctx.user)
      const bytes = JSON.stringify(state).length
      if (bytes > this.config.limits.awarenessBytes) {
        this.config.metrics.refuse('too-large')
        throw new Refusal(`too-large: awareness state of ${bytes} bytes exceeds ${this.config.limits.awarenessBytes}`, 4413)
      }
    }
  }

  /** Makes `clientId` the connection's one awareness client on this document. */
  private claim(document: Document, owners: Map<number, Connection>, connection: Connection, clientId: number): void {
    // The provider's awareness id is its document's Yjs client id: recorded as this user's before
    // they write, so nobody who saw it in presence can take it while they are offline.
    const user = contextOf(connection.context)?.user.sub
    if (user && this.config.owners && Y.getState(document.store, clientId) === 0) {
      this.config.owners.claimClients(document.name, [clientId], user).catch(() => this.config.metrics.storeFailures.inc({ op: 'claim' }))
    }
    this.ownId.set(connection, clientId)
    owners.set(clientId, connection)
    // Hocuspocus records a connection's clients only for ids its awareness has never seen, so a
    // provider reconnecting with the same id would not be cleaned up when this connection closes.
    document.getClients(connection).add(clientId)
    // Only live connections own ids: a reconnect may take its id back, and no old connection is retained.
    connection.onClose(() => {
      if (owners.get(clientId) === connection) owners.delete(clientId)
    })
  }

  /** A fixed one-second window per connection. */
  private admit(connection: Connection): boolean {
    const now = Date.now()
    let window = this.windows.get(connection)
    if (!window || now - window.startedAt >= 1000) {
      window = { startedAt: now, count: 0 }
      this.windows.set(connection, window)
    }
    window.count++
    return window.count <= this.config.limits.awarenessPerSec
  }
}

/** Overwrites every identity-looking top-level field the state has; `user` is always set. */
function stampIdentity(state: Record<string, unknown>, user: HomeroomContext['user']): void {
  for (const key of Object.keys(state)) {
    const value = IDENTITY_KEYS.get(identityKey(key))
    if (value) state[key] = value(user)
  }
  state.user = IDENTITY_KEYS.get('user')!(user)
}

const isState = (state: unknown): state is Record<string, unknown> => state !== null && typeof state === 'object'

const sameState = (a: unknown, b: unknown): boolean => equalityDeep(a, b)

/**
 * Removes the scratch Awareness' own entry: the first in the map, holding `{}`. (Should a client
 * ever send a state for that random id, its state replaces the `{}` and is treated like any other;
 * should a later Hocuspocus drop the scratch entry, an empty first state is all this removes.)
 */
function dropScratchEntry(states: Map<number, Record<string, any>>): void {
  const first = states.entries().next()
  if (first.done) return
  const [clientId, state] = first.value
  if (state !== null && typeof state === 'object' && Object.keys(state).length === 0) states.delete(clientId)
}
