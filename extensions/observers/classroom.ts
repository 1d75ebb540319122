// Classroom monitoring: `stats` derived live from the students' `activity` entries, and the
// entries of students who left turned `away` by the server (when their last connection to the
// class document closes, and for everyone not connected shortly after the document loads, which
// covers a restart in between).
import type * as Y from 'yjs'
import type { Homeroom } from '../../server/homeroom.ts'
import { contextOf } from '../../server/context.ts'
import { mapOf, record } from '../../docs-model/common.ts'
import { ActivityCounts, classStats, leaving } from '../../docs-model/surfaces/class/state.ts'
import type { DocRef } from '../../docs-model/types.ts'
import { Coalescer, Deadlines, derive, readDoc, report, syncMap } from './runtime.ts'
import type { Change, Observer, Visit } from './registry.ts'

const STATS_DELAY_MS = 20
/** After a load, students get this long to reconnect before their entries turn away. */
export const RECONNECT_GRACE_MS = 10_000
/** Stats re-read the roster's class sizes at most this often (activity changes many times a second). */
const ROSTER_TTL_MS = 30_000

export class ClassroomObserver implements Observer {
  readonly name = 'classroom-observer'
  readonly surfaces = ['class']
  private readonly app: Homeroom
  private readonly refreshes: Coalescer
  private readonly sweeps: Deadlines
  private readonly rosterSizes = new Map<string, { at: number; sizes: Map<string, number> }>()
  /** Each loaded class document's counts, moved by the activity entries each change touches. */
  private readonly counts = new WeakMap<Y.Doc, ActivityCounts>()

  constructor(app: Homeroom) {
    this.app = app
    this.refreshes = new Coalescer(STATS_DELAY_MS, (error) => report(app, this.name, error))
    this.sweeps = new Deadlines(app.clock)
  }

  stop(): void {
    this.refreshes.close()
    this.sweeps.stop()
  }

  changed({ ref }: Change): void {
    this.refreshes.request(ref.name, () => this.refreshStats(ref))
  }

  loaded(ref: DocRef, doc: Y.Doc): void {
    const activity = mapOf(doc, 'activity')
    const counts = new ActivityCounts(activity)
    this.counts.set(doc, counts)
    activity.observe((event) => {
      for (const user of event.keysChanged) counts.set(user, activity.get(user))
    })
    // Not awaited here: the load that runs this hook must finish before anything can write.
    this.refreshes.request(ref.name, () => this.refreshStats(ref))
    this.sweeps.set(ref.name, this.app.clock.now() + RECONNECT_GRACE_MS, () => {
      void this.markAway(ref, (user) => !connectedUsers(this.app, ref.name).has(user)).catch((error) => report(this.app, this.name, error, ref.name))
    })
  }

  async disconnected({ ref, context }: Visit): Promise<void> {
    const user = context?.user
    if (user?.role !== 'student') return
    // onDisconnect may fire twice, and a student may hold several tabs: only the last one counts.
    await this.markAway(ref, (entry) => entry === user.sub && !connectedUsers(this.app, ref.name).has(user.sub))
  }

  private async refreshStats(ref: DocRef): Promise<void> {
    const classSize = (await this.classSizes(ref.school)).get(ref.params.class) ?? 0
    const stats = await readDoc(this.app, ref.name, (doc) => this.counts.get(doc)?.stats(classSize) ?? classStats(doc, classSize))
    await syncMap(this.app, this.name, ref.name, 'stats', stats)
  }

  /** Students per class from the school's roster, re-read at most every ROSTER_TTL_MS. */
  private async classSizes(school: string): Promise<Map<string, number>> {
    const cached = this.rosterSizes.get(school)
    if (cached && this.app.clock.now() - cached.at < ROSTER_TTL_MS) return cached.sizes
    const sizes = new Map<string, number>()
    for (const member of await this.app.store.roster(school)) {
      if (member.role !== 'student') continue
      for (const c of member.classes ?? []) sizes.set(c, (sizes.get(c) ?? 0) + 1)
    }
    this.rosterSizes.set(school, { at: this.app.clock.now(), sizes })
    return sizes
  }

  /** Turns the entries of the users `gone` selects to `away`; writes nothing when none changes. */
  private async markAway(ref: DocRef, gone: (user: string) => boolean): Promise<void> {
    const live = this.app.hocuspocus.documents.get(ref.name)
    if (!live || !leaving(live, gone).length) return
    await derive(this.app, this.name, ref.name, (doc) => {
      const activity = mapOf(doc, 'activity')
      for (const user of leaving(doc, gone)) activity.set(user, { ...record(activity.get(user)), state: 'away', at: this.app.clock.now() })
    })
    // The registry does not hand this observer its own write: the stats follow the change here.
    this.refreshes.request(ref.name, () => this.refreshStats(ref))
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
