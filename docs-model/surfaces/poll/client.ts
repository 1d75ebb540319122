// The typed client of the poll family, on a Session: reads through state.ts, writes through
// surface.ts, each write checked against the rule the server applies.
import type { Handle, Session } from '../../client/session.ts'
import { ballotName, pollClosed, pollMeta, pollName, setupPoll, vote, type PollMeta } from './surface.ts'
import { choiceOf, talliesOf } from './state.ts'

/** `s/poll/<id>` plus the user's own ballot. */
export class PollClient {
  readonly poll: Handle
  private readonly session: Session
  private readonly school: string
  private readonly id: string
  private ballotHandle?: Handle

  constructor(session: Session, school: string, id: string) {
    this.session = session
    this.school = school
    this.id = id
    this.poll = session.open(pollName(school, id))
  }

  meta(): PollMeta {
    return pollMeta(this.poll.doc)
  }

  /** Counts per option, as the server derived them from every ballot. */
  tallies(): number[] {
    return talliesOf(this.poll.doc, this.meta())
  }

  closed(): boolean {
    return pollClosed(this.meta())
  }

  /** The user's ballot document (opened on first use). */
  get ballot(): Handle {
    this.ballotHandle ??= this.session.open(ballotName(this.school, this.id, this.session.user.sub))
    return this.ballotHandle
  }

  myChoice(): number | undefined {
    return choiceOf(this.ballot.doc)
  }

  vote(choice: number): void {
    this.ballot.write('ballot/choice', (doc) => vote(doc, choice, this.session.now()))
  }

  /** Teachers: set the question and options (an open poll with no closing time unless given). */
  setup(question: string, options: string[], closesAt?: number): void {
    this.poll.write('meta', (doc) => setupPoll(doc, question, options, closesAt))
  }
}
