// Observers derive server-side state (tallies, grades, alerts, escalations) from the documents
// of the surfaces they watch. One Hocuspocus extension, `Observers`, runs them all: it parses
// each document name once, hands every hook only to the observers that watch the document's
// surface key, and keeps an observer's own derived writes from coming back to it as changes.
import * as map from 'lib0/map'
import type {
  afterLoadDocumentPayload,
  afterUnloadDocumentPayload,
  connectedPayload,
  Extension,
  onChangePayload,
  onDisconnectPayload,
} from '@hocuspocus/server'
import type * as Y from 'yjs'
import { resolve, type DocRef } from '../../docs-model/index.ts'
import { contextOf, type HomeroomContext } from '../../server/context.ts'
import type { Homeroom } from '../../server/homeroom.ts'
import { serverContext, sourceOf, type ChangeSource } from '../../server/origin.ts'
import { EXTENSION_PRIORITY } from '../priorities.ts'
import { report } from './runtime.ts'


export interface Change {
  ref: DocRef
  doc: Y.Doc
  source: ChangeSource
}

/** A connection to a document opening or closing; `context` is the connection's, once authenticated. */
export interface Visit {
  ref: DocRef
  doc: Y.Doc
  socketId: string
  context: HomeroomContext | undefined
}

export interface Observer {
  /** Names the observer in logs and metrics, and marks its derived writes (see `derivedBy`). */
  readonly name: string
  /** Surface keys (`poll`, `exam/student`) whose documents this observer hears of; it hears of no other. */
  readonly surfaces: readonly string[]
  /** The server listens: re-arm deadlines from stored documents. */
  start?(): Promise<void> | void
  stop?(): Promise<void> | void
  loaded?(ref: DocRef, doc: Y.Doc): Promise<void> | void
  changed?(change: Change): Promise<void> | void
  connected?(visit: Visit): Promise<void> | void
  disconnected?(visit: Visit): Promise<void> | void
  unloaded?(ref: DocRef): Promise<void> | void
}

function parse(name: string): DocRef | undefined {
  try {
    return resolve(name).ref
  } catch {
    return undefined
  }
}

export class Observers implements Extension {
  readonly extensionName = 'observers'
  readonly priority = EXTENSION_PRIORITY.observers
  private readonly app: Homeroom
  private readonly observers: readonly Observer[]
  private readonly bySurface = new Map<string, Observer[]>()
  /** Each loaded document's parsed name: a change (every keystroke) then costs one lookup. */
  private readonly refs = new WeakMap<Y.Doc, DocRef | null>()

  constructor(app: Homeroom, observers: readonly Observer[]) {
    this.app = app
    this.observers = observers
    for (const observer of observers) {
      for (const surface of observer.surfaces) {
        map.setIfUndefined(this.bySurface, surface, () => [] as Observer[]).push(observer)
      }
    }
  }

  async onListen(): Promise<void> {
    await this.each(this.observers, 'start', (o) => o.start?.())
  }

  async onDestroy(): Promise<void> {
    await this.each(this.observers, 'stop', (o) => o.stop?.())
  }

  async afterLoadDocument({ documentName, document }: afterLoadDocumentPayload): Promise<void> {
    const ref = this.refOf(documentName, document)
    if (ref) await this.each(this.watching(ref), 'loaded', (o) => o.loaded?.(ref, document), documentName)
  }

  async onChange({ documentName, document, transactionOrigin }: onChangePayload): Promise<void> {
    const ref = this.refOf(documentName, document)
    if (!ref) return
    const by = serverContext(transactionOrigin)?.derivedBy
    const change: Change = { ref, doc: document, source: sourceOf(transactionOrigin) }
    // An observer's own derived write is the result of its work, not a reason to redo it.
    await this.each(this.watching(ref).filter((o) => o.name !== by), 'changed', (o) => o.changed?.(change), documentName)
  }

  async connected({ documentName, context, socketId, instance }: connectedPayload): Promise<void> {
    const doc = instance.documents.get(documentName)
    const ref = doc && this.refOf(documentName, doc)
    if (ref && doc) await this.each(this.watching(ref), 'connected', (o) => o.connected?.({ ref, doc, socketId, context: contextOf(context) }), documentName)
  }

  async onDisconnect({ documentName, context, socketId, document }: onDisconnectPayload): Promise<void> {
    const ref = this.refOf(documentName, document)
    if (ref) await this.each(this.watching(ref), 'disconnected', (o) => o.disconnected?.({ ref, doc: document, socketId, context: contextOf(context) }), documentName)
  }

  async afterUnloadDocument({ documentName }: afterUnloadDocumentPayload): Promise<void> {
    const ref = parse(documentName)
    if (ref) await this.each(this.watching(ref), 'unloaded', (o) => o.unloaded?.(ref), documentName)
  }

  private refOf(name: string, doc: Y.Doc): DocRef | undefined {
    let ref = this.refs.get(doc)
    if (ref === undefined) this.refs.set(doc, (ref = parse(name) ?? null))
    return ref ?? undefined
  }

  private watching(ref: DocRef): readonly Observer[] {
    return this.bySurface.get(ref.surface) ?? []
  }

  /** Runs one hook of each observer; an observer's error is counted and logged, never passed to Hocuspocus. */
  private async each(observers: readonly Observer[], hook: string, run: (observer: Observer) => Promise<void> | void, doc?: string): Promise<void> {
    for (const observer of observers) {
      try {
        await run(observer)
      } catch (error) {
        report(this.app, `${observer.name}.${hook}`, error, doc)
      }
    }
  }
}
