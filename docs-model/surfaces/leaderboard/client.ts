// The typed client of the leaderboard family, on a Session: read only (the server ranks).
import { entriesOf, mapOf } from '../../common.ts'
import type { Handle, Session } from '../../client/session.ts'
import { leaderboardName, type LeaderboardEntry } from './surface.ts'

/** `s/leaderboard/<board>`: ranks the server derives from quiz and exam results. */
export class LeaderboardClient {
  readonly handle: Handle

  constructor(session: Session, school: string, board: string) {
    this.handle = session.open(leaderboardName(school, board))
  }

  /** Best first; ties share a rank. */
  entries(): Array<LeaderboardEntry & { user: string }> {
    return entriesOf<LeaderboardEntry>(mapOf(this.handle.doc, 'entries'))
      .map(([user, entry]) => ({ user, ...entry }))
      .sort((a, b) => a.rank - b.rank || (a.user < b.user ? -1 : 1))
  }

  /** The session user's entry, or undefined while they have no score on this board. */
  mine(): (LeaderboardEntry & { user: string }) | undefined {
    const me = this.handle.session.user.sub
    const entry = mapOf(this.handle.doc, 'entries').get(me) as LeaderboardEntry | undefined
    return entry && { user: me, ...entry }
  }
}
