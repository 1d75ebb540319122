// `homeroom retention run`: apply the retention rules to the store now (a running server also
// applies them once a day by itself).
import type { Command } from 'commander'
import { runRetention } from '../../server/retention.ts'
import { writeInStore } from '../../server/history/restore.ts'
import { action, print, printJson, progress, withStore } from './common.ts'

export function retentionCommand(program: Command): void {
  const retention = program.command('retention').description('retention of chat messages, inbox items, bus trails and old history')
  retention
    .command('run')
    .description('delete bus trail points, chat/dm/group messages and inbox items (not urgent ones) older than their retention, and history before the window')
    .option('--json', 'machine-readable output')
    .action(
      action('retention run', async (o: { json?: boolean }) => {
        const report = await withStore('write', async (store, config) => {
          let bar: ReturnType<typeof progress> | undefined
          try {
            return await runRetention({
              store,
              chatDays: config.retention.chatDays,
              busTrailDays: config.retention.busTrailDays,
              inboxDays: config.retention.inboxDays,
              claimsDays: config.claims.retentionDays,
              apply: async (name, change) => {
                await writeInStore(store, name, change, { user: 'retention', origin: 'server' })
              },
              onProgress: (done, total) => {
                bar ??= progress('retention', total)
                bar.update(done)
              },
            })
          } finally {
            bar?.stop()
          }
        })
        if (o.json) return printJson(report)
        print(
          `checked ${report.documentsChecked} conversation documents: removed ${report.messagesRemoved} messages older than ${report.chatCutoff}, ` +
            `dropped ${report.entriesDropped} journal entries before the window, ` +
            `deleted ${report.trailPointsDeleted} bus trail points older than ${report.trailCutoff}, ` +
            `removed ${report.inboxItemsRemoved} inbox items older than ${report.inboxCutoff} (urgent ones kept)`,
        )
      }),
    )
}
