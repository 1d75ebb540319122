// Every surface of the contract, and the lookups the server, command line and clients use.
import { NameParser } from './names.ts'
import type { DocRef, Surface } from './types.ts'
import { doc } from './surfaces/doc/surface.ts'
import { board } from './surfaces/board/surface.ts'
import { ballot, poll, pollKey, pollResult } from './surfaces/poll/surface.ts'
import { exam, examKey, examMonitor, examResult, examStudent } from './surfaces/exam/surface.ts'
import { chat, dm, group } from './surfaces/chat/surface.ts'
import { inbox } from './surfaces/inbox/surface.ts'
import { emergency } from './surfaces/emergency/surface.ts'
import { bus } from './surfaces/bus/surface.ts'
import { classroom } from './surfaces/class/surface.ts'
import { dashboard } from './surfaces/dashboard/surface.ts'
import { leaderboard } from './surfaces/leaderboard/surface.ts'
import { systemStatus } from './surfaces/system/surface.ts'

export const SURFACES: readonly Surface[] = [
  doc, board, poll, ballot, pollKey, pollResult, exam, examKey, examStudent, examMonitor, examResult,
  chat, dm, group, inbox, emergency, bus, classroom, dashboard, leaderboard, systemStatus,
]

const parser = new NameParser(SURFACES)

/** Parses a document name; throws a NameError with reason `bad-name: …` or `unknown-surface: …`. */
export function resolve(name: string): { ref: DocRef; surface: Surface } {
  return parser.parse(name)
}
