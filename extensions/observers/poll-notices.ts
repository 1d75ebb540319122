// Poll notices: a new poll or quiz for a class (`meta.class`) tells that class's students, in
// their inboxes, once it has options (docs-model/surfaces/poll/state.ts: pollNotice). Announced
// once across instances and restarts (a fan-out claim, resumed by another instance if this one dies), whoever made the poll and however often
// its meta changes afterwards.
import type { Homeroom } from '../../server/homeroom.ts'
import type { DocRef } from '../../docs-model/types.ts'
import { pollMeta } from '../../docs-model/surfaces/poll/surface.ts'
import { pollNotice } from '../../docs-model/surfaces/poll/state.ts'
import { contain } from './runtime.ts'
import type { FanOuts } from './fan-out.ts'
import type { Change, Observer } from './registry.ts'

export class PollNoticeObserver implements Observer {
  readonly name = 'poll-notices'
  readonly surfaces = ['poll']
  private readonly app: Homeroom
  /** Polls this process already announced (or saw announced), so later changes skip the store. */
  private readonly announced = new Set<string>()

  private readonly fanOuts: FanOuts

  constructor(app: Homeroom, fanOuts: FanOuts) {
    this.app = app
    this.fanOuts = fanOuts
  }

  changed({ ref, doc }: Change): void {
    if (this.announced.has(ref.name)) return
    const notice = pollNotice(ref.name, pollMeta(doc), this.app.clock.now())
    if (!notice) return
    this.announced.add(ref.name)
    void contain(this.app, 'poll-notices', async () => {
      const students = (await this.app.directory.members(ref.school)).filter((m) => m.role === 'student' && (m.classes ?? []).includes(notice.forClass)).map((m) => m.id)
      await this.fanOuts.run(`poll-notice:${ref.name}`, { school: ref.school, users: students, id: notice.id, item: notice.item })
    })
  }

  unloaded(ref: DocRef): void {
    this.announced.delete(ref.name)
  }
}

