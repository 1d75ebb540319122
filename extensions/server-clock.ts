// The server's time, for clients whose device clock is wrong: every document connection gets the
// clock message (docs-model/clock-message.ts) once opened, from the clock the server's deadlines
// use, so a countdown on the client (exam.remainingMs()) ends when the server closes.
import type { connectedPayload, Extension } from '@hocuspocus/server'
import type { Clock } from '../server/clock.ts'
import { clockMessage } from '../docs-model/clock-message.ts'
import { EXTENSION_PRIORITY } from './priorities.ts'

export class ServerClock implements Extension {
  readonly extensionName = 'server-clock'
  readonly priority = EXTENSION_PRIORITY.serverClock
  private readonly clock: Clock

  constructor(clock: Clock) {
    this.clock = clock
  }

  async connected({ connection }: connectedPayload): Promise<void> {
    connection.sendStateless(clockMessage(this.clock.now()))
  }
}
