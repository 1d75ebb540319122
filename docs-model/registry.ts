// Every surface of the contract, and the lookups the server, command line and clients use.
import { NameParser } from './names.ts'
import type { DocRef, Surface } from './types.ts'
import { doc } from './surfaces/doc.ts'
import { board } from './surfaces/board.ts'
import { ballot, poll, pollKey } from './surfaces/poll.ts'
import { exam, examKey, examMonitor, examStudent } from './surfaces/exam.ts'
import { chat } from './surfaces/chat.ts'
import { dm } from './surfaces/dm.ts'
import { group } from './surfaces/group.ts'
import { inbox } from './surfaces/inbox.ts'
import { emergency } from './surfaces/emergency.ts'
import { bus } from './surfaces/bus.ts'
import { classroom } from './surfaces/class.ts'
import { dashboard } from './surfaces/dashboard.ts'
import { leaderboard } from './surfaces/leaderboard.ts'
import { systemStatus } from './surfaces/system.ts'

export const SURFACES: readonly Surface[] = [
  doc, board, poll, ballot, pollKey, exam, examKey, examStudent, examMonitor,
  chat, dm, group, inbox, emergency, bus, classroom, dashboard, leaderboard, systemStatus,
]

const parser = new NameParser(SURFACES)

/** Parses a document name; throws a NameError with reason `bad-name: …` or `unknown-surface: …`. */
export function resolve(name: string): { ref: DocRef; surface: Surface } {
  return parser.parse(name)
}
