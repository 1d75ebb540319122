// Classroom monitoring: `stats` derived live from the students' `activity` entries, and the
// entries of students who left turned `away` by the server (when their last connection to the
// class document closes, and for everyone not connected shortly after the document loads, which
// covers a restart in between).
import type { afterLoadDocumentPayload, Extension, onChangePayload, onDisconnectPayload } from '@hocuspocus/server'
import type { Homeroom } from '../../server/app.ts'
import { contextOf } from '../../server/context.ts'
import { serverWrite } from '../../server/writes.ts'
import { resolve } from '../../docs-model/registry.ts'
import { mapOf, record } from '../../docs-model/common.ts'
import { classStats, leaving } from '../../docs-model/surfaces/class/state.ts'
import { Coalescer, readDoc, reportError, syncMap } from './support.ts'

const STATS_DELAY_MS = 20
/** After a load, students get this long to reconnect before their entries turn away. */
const RECONNECT_GRACE_MS = 10_000
/** Stats re-read the roster's class sizes at most this often (activity changes many times a second). */
const ROSTER_TTL_MS = 30_000

export class ClassroomObserver implements Extension {
  readonly extensionName = 'classroom-observer'
  private readonly app: Homeroom
  private readonly refreshes: Coalescer
  private readonly sweeps = new Set<NodeJS.Timeout>()
  private readonly rosterSizes = new Map<string, { at: number; sizes: Map<string, number> }>()

  constructor(app: Homeroom) {
    this.app = app
    this.refreshes = new Coalescer(STATS_DELAY_MS, (error) => reportError(app, 'classroom-observer', error))
  }

  async onDestroy(): Promise<void> {
    this.refreshes.close()
    for (const timer of this.sweeps) clearTimeout(timer)
    this.sweeps.clear()
  }

  async onChange({ documentName }: onChangePayload): Promise<void> {
    if (!isClass(documentName)) return
    this.refreshes.request(documentName, () => this.refreshStats(documentName))
  }

  async afterLoadDocument({ documentName }: afterLoadDocumentPayload): Promise<void> {
    if (!isClass(documentName)) return
    // Not awaited here: the load that runs this hook must finish before anything can write.
    this.refreshes.request(documentName, () => this.refreshStats(documentName))
    const timer = setTimeout(() => {
      this.sweeps.delete(timer)
      void this.markAway(documentName, (user) => !connectedUsers(this.app, documentName).has(user)).catch((error) =>
        reportError(this.app, 'classroom-observer', error, documentName),
      )
    }, RECONNECT_GRACE_MS)
    timer.unref()
    this.sweeps.add(timer)
  }

  async onDisconnect({ context, documentName }: onDisconnectPayload): Promise<void> {
    try {
      const user = contextOf(context)?.user
      if (!isClass(documentName) || user?.role !== 'student') return
      // onDisconnect may fire twice, and a student may hold several tabs: only the last one counts.
      await this.markAway(documentName, (entry) => entry === user.sub && !connectedUsers(this.app, documentName).has(user.sub))
    } catch (error) {
      reportError(this.app, 'classroom-observer', error, documentName)
    }
  }

  private async refreshStats(name: string): Promise<void> {
    const { school, params } = resolve(name).ref
    const classSize = (await this.classSizes(school)).get(params.class) ?? 0
    const stats = await readDoc(this.app, name, (doc) => classStats(doc, classSize))
    await syncMap(this.app, name, 'stats', stats)
  }

  /** Students per class from the school's roster, re-read at most every ROSTER_TTL_MS. */
  private async classSizes(school: string): Promise<Map<string, number>> {
    const cached = this.rosterSizes.get(school)
    if (cached && Date.now() - cached.at < ROSTER_TTL_MS) return cached.sizes
    const sizes = new Map<string, number>()
    for (const member of await this.app.store.roster(school)) {
      if (member.role !== 'student') continue
      for (const c of member.classes ?? []) sizes.set(c, (sizes.get(c) ?? 0) + 1)
    }
    this.rosterSizes.set(school, { at: Date.now(), sizes })
    return sizes
  }

  /** Turns the entries of the users `gone` selects to `away`; writes nothing when none changes. */
  private async markAway(name: string, gone: (user: string) => boolean): Promise<void> {
    const live = this.app.hocuspocus.documents.get(name)
    if (!live || !leaving(live, gone).length) return
    await serverWrite(this.app.hocuspocus, name, (doc) => {
      const activity = mapOf(doc, 'activity')
      for (const user of leaving(doc, gone)) activity.set(user, { ...record(activity.get(user)), state: 'away', at: Date.now() })
    })
  }
}

function connectedUsers(app: Homeroom, name: string): Set<string> {
  const document = app.hocuspocus.documents.get(name)
  const users = new Set<string>()
  for (const connection of document?.getConnections() ?? []) {
    const user = contextOf(connection.context)?.user.sub
    if (user) users.add(user)
  }
  return users
}

function isClass(name: string): boolean {
  try {
    return resolve(name).surface.key === 'class'
  } catch {
    return false
  }
}
