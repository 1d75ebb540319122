// `homeroom docs …`: look inside the stored documents, travel in time, see who wrote what, export and import,
// restore a past state, compact history, verify that everything decodes and repair what does not.
import { readFileSync, writeFileSync } from 'node:fs'
import type { Command } from 'commander'
import * as Y from 'yjs'
import type { HistoryStore, QuarantinedEntry } from '../../server/store/types.ts'
import { SURFACES } from '../../docs-model/registry.ts'
import { truncateHistory } from '../../server/history/prune.ts'
import { replay, stateAt } from '../../server/history/replay.ts'
import { restoreInStore } from '../../server/history/restore.ts'
import { historyBounds, iso, TimeTravelError } from '../../server/history/time.ts'
import { diff, history } from '../../server/history/trace.ts'
import { contributionUnit, contributions } from '../../server/history/contributions.ts'
import {
  action,
  CliError,
  countOption,
  documentName,
  io,
  kib,
  print,
  printJson,
  progress,
  refuseWhileServing,
  shorten,
  table,
  timeOption,
  withStore,
} from './common.ts'
import { verifyDocument, type Problem } from './verify.ts'

const TIME_HELP = 'an ISO time (2026-05-01T08:00:00Z) or relative to now (-15m, -2h, -1d)'
const CLI_USER = 'homeroom-cli'

/** The words `--surface` filters on: the second part of a name (`s1/poll/p1/ballot/u1` is a `poll`). */
const SURFACE_WORDS = [...new Set(SURFACES.map((s) => s.key.split('/')[0]))]

function surfaceOption(value: string | undefined): string | undefined {
  if (value === undefined || SURFACE_WORDS.includes(value)) return value
  throw new CliError(`--surface: no surface is called '${value}'; the known ones are ${SURFACE_WORDS.join(', ')}`, 2)
}

/** Milliseconds since 1970 that fall between 2000 and 2100: shown as ISO times in text output. */
const looksLikeTime = (value: number): boolean => Number.isInteger(value) && value >= 946_684_800_000 && value < 4_102_444_800_000
const TIME_KEY = /^(at|.*At|.*_at|since|until|expires|deadline|startsAt|endsAt)$/

/** A decoded value for text output: numbers under time-like keys (`at`, `createdAt`, …) as ISO times. */
function readable(value: unknown, key?: string): unknown {
  if (typeof value === 'number' && key !== undefined && TIME_KEY.test(key) && looksLikeTime(value)) return iso(value)
  if (Array.isArray(value)) return value.map((v) => readable(v))
  if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, readable(v, k)]))
  return value
}

/** Runs `work`, naming `flag` in a refusal of a time before the history window. */
async function timeFlag<T>(flag: string, work: () => Promise<T>): Promise<T> {
  try {
    return await work()
  } catch (error) {
    if (error instanceof TimeTravelError && error.code === 'before-retention') throw new CliError(`${flag}: ${error.message}`)
    throw error
  }
}

const json = (value: unknown, key?: string): string => (value === undefined ? '(absent)' : JSON.stringify(readable(value, key)))

export function docsCommand(program: Command): void {
  const docs = program
    .command('docs')
    .description('inspect, time-travel, export, import, restore, compact, verify and repair stored documents')

  docs
    .command('list')
    .description('stored documents: name, size, updates, last change')
    .option('--school <id>', 'only this school')
    .option('--surface <kind>', `only this surface: ${SURFACE_WORDS.join(', ')}`)
    .option('--json', 'machine-readable output')
    .action(
      action('docs list', async (o: { school?: string; surface?: string; json?: boolean }) => {
        const surface = surfaceOption(o.surface)
        const list = await withStore('read', (store) => store.listDocuments({ school: o.school, surface }))
        if (o.json) return printJson(list.map((d) => ({ ...d, updatedAt: iso(d.updatedAt) })))
        if (list.length === 0) return print('no stored documents (check DATA_DIR / DATABASE_URL and the filters)')
        print(table(['NAME', 'SIZE', 'UPDATES', 'LAST CHANGE'], list.map((d) => [d.name, kib(d.bytes), String(d.updates), iso(d.updatedAt)])))
      }),
    )

  docs
    .command('show')
    .description('the document as JSON (decoded by its surface), now or at a past time')
    .argument('<name>', 'document name, e.g. s1/chat/room1')
    .option('--at <time>', TIME_HELP)
    .option('--json', 'accepted for symmetry: the output is always JSON')
    .action(
      action('docs show', async (name: string, o: { at?: string }) => {
        const { surface } = documentName(name)
        const at = timeOption('--at', o.at)
        const decoded = await withStore('read', async (store) => {
          const doc = await timeFlag('--at', () => stateAt(store, name, at))
          try {
            return surface.decode(doc)
          } finally {
            doc.destroy()
          }
        })
        printJson(decoded)
      }),
    )

  docs
    .command('history')
    .description('each stored change: time, user, origin, bytes and the paths it touched')
    .argument('<name>', 'document name')
    .option('--from <time>', `only changes at or after this time: ${TIME_HELP}`)
    .option('--to <time>', 'only changes at or before this time')
    .option('--limit <n>', 'at most n changes: the newest n, or with --from the first n from that time')
    .option('--json', 'machine-readable output')
    .action(
      action('docs history', async (name: string, o: { from?: string; to?: string; limit?: string; json?: boolean }) => {
        documentName(name)
        const [from, to] = [timeOption('--from', o.from), timeOption('--to', o.to)]
        const limit = countOption('--limit', o.limit)
        const { all, start } = await withStore('read', async (store) => ({
          all: await timeFlag('--from', () => history(store, name, { from, to })),
          start: (await historyBounds(store, name)).start,
        }))
        const items = limit === undefined || all.length <= limit ? all : from !== undefined ? all.slice(0, limit) : all.slice(-limit)
        if (o.json) return printJson(items.map((i) => ({ ...i, at: iso(i.at) })))
        if (start > 0) print(`history starts at ${iso(start)} (older history was compacted or removed by retention)`)
        if (items.length < all.length) print(`showing ${items.length} of ${all.length} changes (--limit ${limit})`)
        print(
          table(
            ['SEQ', 'TIME', 'USER', 'ORIGIN', 'BYTES', 'PATHS'],
            items.map((i) => [String(i.seq), iso(i.at), i.user ?? '-', i.origin, String(i.bytes), shorten(i.paths.join(', '))]),
          ),
        )
      }),
    )

  docs
    .command('blame')
    .description('who wrote what: per user, characters (or board elements) inserted, deleted and still present, first and last edit')
    .argument('<name>', 'document name: an s/doc, or an s/board (elements)')
    .option('--at <time>', `as it was then: ${TIME_HELP}`)
    .option('--runs', 'also print the current text in runs by author')
    .option('--json', 'machine-readable output: the same as GET /api/v1/docs/<name>/contributions')
    .action(
      action('docs blame', async (name: string, o: { at?: string; runs?: boolean; json?: boolean }) => {
        const { surface } = documentName(name)
        if (!contributionUnit(surface)) throw new CliError(`${name} has neither text nor board elements: blame counts characters (s/doc) or elements (s/board)`, 2)
        const at = timeOption('--at', o.at)
        const result = await withStore('read', (store) => timeFlag('--at', () => contributions(store, name, at, undefined, { runs: Boolean(o.runs || o.json) })))
        const users = result.users.map((u) => ({ ...u, firstEdit: iso(u.firstEdit), lastEdit: iso(u.lastEdit) }))
        if (o.json) return printJson({ name, at: at === undefined ? null : iso(at), unit: result.unit, users, runs: result.runs })
        print(`${name}${at === undefined ? '' : ` at ${iso(at)}`}: ${result.unit} by user`)
        print(
          table(
            ['USER', 'INSERTED', 'DELETED', 'PRESENT', 'FIRST EDIT', 'LAST EDIT'],
            users.map((u) => [u.user, String(u.inserted), String(u.deleted), String(u.present), u.firstEdit, u.lastEdit]),
          ),
        )
        if (o.runs) for (const run of result.runs) print(`${run.user}: ${JSON.stringify(run.text)}`)
      }),
    )

  docs
    .command('diff')
    .description('what changed between two times, by path, with who changed it')
    .argument('<name>', 'document name')
    .requiredOption('--from <time>', TIME_HELP)
    .option('--to <time>', `${TIME_HELP}; default: now`)
    .option('--json', 'machine-readable output')
    .action(
      action('docs diff', async (name: string, o: { from: string; to?: string; json?: boolean }) => {
        documentName(name)
        const from = timeOption('--from', o.from)
        const to = timeOption('--to', o.to) ?? Date.now()
        const changes = await withStore('read', (store) => timeFlag('--from', () => diff(store, name, from, to)))
        if (o.json) return printJson(changes)
        if (changes.length === 0) return print(`no changes between ${iso(from)} and ${iso(to)}`)
        for (const c of changes) {
          print(`${c.path}  by ${c.by.map((u) => u ?? '-').join(', ')} (${c.entries} change${c.entries === 1 ? '' : 's'})`)
          const key = c.path.split('/').at(-1)
          print(`  before: ${shorten(json(c.before, key), 200)}`)
          print(`  after:  ${shorten(json(c.after, key), 200)}`)
        }
      }),
    )

  docs
    .command('export')
    .description('the document as one Yjs binary update (now or at a past time)')
    .argument('<name>', 'document name')
    .option('--out <file>', 'write to this file (default: standard output, which must not be a terminal)')
    .option('--at <time>', TIME_HELP)
    .action(
      action('docs export', async (name: string, o: { out?: string; at?: string }) => {
        documentName(name)
        if (!o.out && io.stdout.isTTY) throw new CliError('refusing to write binary data to a terminal: pass --out <file> or redirect the output', 2)
        const at = timeOption('--at', o.at)
        const update = await withStore('read', async (store) => {
          const doc = await timeFlag('--at', () => stateAt(store, name, at))
          try {
            return Y.encodeStateAsUpdate(doc)
          } finally {
            doc.destroy()
          }
        })
        if (o.out) writeInChunks(o.out, update)
        else io.stdout.write(update)
        if (o.out) io.stderr.write(`wrote ${kib(update.byteLength)} to ${o.out}\n`)
      }),
    )

  docs
    .command('import')
    .description("journal a Yjs binary update into the document (origin 'import'); only what is new is stored")
    .argument('<name>', 'document name')
    .argument('<file>', 'a file written by `docs export` (or any Yjs update)')
    .option('--user <id>', 'who the journal names as the author', CLI_USER)
    .option('--force', 'write even though a server seems to be running')
    .action(
      action('docs import', async (name: string, file: string, o: { user: string; force?: boolean }) => {
        documentName(name)
        let update: Uint8Array
        try {
          update = new Uint8Array(readFileSync(file))
          Y.applyUpdate(new Y.Doc(), update)
        } catch (error) {
          throw new CliError(`${file} is not a readable Yjs update: ${(error as Error).message}`)
        }
        const result = await withStore('write', async (store) => {
          await refuseWhileServing(store, 'importing', o.force)
          const { doc } = await replay(store, name)
          const fresh = Y.diffUpdate(update, Y.encodeStateVector(doc))
          // New structs or new deletions change the snapshot; anything else is already stored.
          const before = Y.snapshot(doc)
          Y.applyUpdate(doc, fresh)
          const unchanged = Y.equalSnapshots(before, Y.snapshot(doc))
          doc.destroy()
          if (unchanged) return undefined
          return { seq: await store.append(name, { at: Date.now(), user: o.user, origin: 'import', update: fresh }), bytes: fresh.byteLength }
        })
        print(result ? `imported ${kib(result.bytes)} into ${name} as entry ${result.seq}` : `nothing new: ${name} already holds everything in ${file}`)
      }),
    )

  docs
    .command('restore')
    .description('make the document equal its state at a past time, as a new change')
    .argument('<name>', 'document name')
    .requiredOption('--at <time>', TIME_HELP)
    .option('--server <url>', 'apply through this running server so live clients receive it (http(s):// or ws(s)://)')
    .option('--token <jwt>', 'an admin or service token for --server')
    .option('--user <id>', 'who the journal names as the author (without --server)', CLI_USER)
    .option('--force', 'write into the store even though a server seems to be running')
    .action(
      action('docs restore', async (name: string, o: { at: string; server?: string; token?: string; user: string; force?: boolean }) => {
        documentName(name)
        const at = timeOption('--at', o.at)
        if (o.server) return restoreThroughServer(name, at, o.server, o.token)
        if (o.token) throw new CliError('--token only goes with --server <url>', 2)
        const result = await withStore('write', async (store) => {
          await refuseWhileServing(store, 'restoring', o.force)
          return timeFlag('--at', () => restoreInStore(store, name, at, o.user))
        })
        print(result ? `restored ${name} to ${iso(at)} as entry ${result.seq} (${kib(result.bytes)})` : `${name} already equals its state at ${iso(at)}: nothing to do`)
      }),
    )

  docs
    .command('compact')
    .description('write a snapshot of each document (or one) and drop the history before it')
    .argument('[name]', 'only this document')
    .option('--json', 'machine-readable output')
    .option('--force', 'compact even though a server seems to be running (a replay it runs meanwhile could miss entries)')
    .action(
      action('docs compact', async (name: string | undefined, o: { json?: boolean; force?: boolean }) => {
        if (name) documentName(name)
        const results = await withStore('write', async (store) => {
          await refuseWhileServing(store, 'compacting', o.force)
          const names = name ? [name] : (await store.listDocuments()).map((d) => d.name)
          const bar = progress('compacting', names.length)
          const out: Array<{ name: string; seq: number | null; dropped: number }> = []
          try {
            for (const [i, n] of names.entries()) {
              const r = await truncateHistory(store, n)
              out.push({ name: n, seq: r?.seq ?? null, dropped: r?.dropped ?? 0 })
              bar.update(i + 1)
            }
          } finally {
            bar.stop()
          }
          return out
        })
        if (name && results[0].seq === null) throw new CliError(`no stored history for ${name}: check the name with 'homeroom docs list'`)
        if (o.json) return printJson(results)
        const dropped = results.reduce((sum, r) => sum + r.dropped, 0)
        print(`compacted ${results.length} document${results.length === 1 ? '' : 's'}; dropped ${dropped} journal entr${dropped === 1 ? 'y' : 'ies'}`)
      }),
    )

  docs
    .command('verify')
    .description('check that every stored document (or one) decodes; names any corrupted entry (exit 1)')
    .argument('[name]', 'only this document')
    .option('--json', 'machine-readable output')
    .action(
      action('docs verify', async (name: string | undefined, o: { json?: boolean }) => {
        if (name) documentName(name)
        const { checked, problems } = await withStore('read', async (store) => {
          if (name && !(await historyBounds(store, name)).exists) {
            throw new CliError(`no stored document ${name}: nothing to verify (check the name with 'homeroom docs list')`)
          }
          const names = name ? [name] : (await store.listDocuments()).map((d) => d.name)
          const bar = progress('verifying', names.length)
          const found: Problem[] = []
          try {
            for (const [i, n] of names.entries()) {
              found.push(...(await verifyDocument(store, n)))
              bar.update(i + 1)
            }
          } finally {
            bar.stop()
          }
          return { checked: names.length, problems: found }
        })
        if (o.json) printJson({ checked, problems })
        else {
          for (const p of problems) print(`${p.doc}: ${p.message}${p.at ? ` (at ${p.at}${p.user ? `, by ${p.user}` : ''})` : ''}`)
          const documents = `${checked} document${checked === 1 ? '' : 's'}`
          print(problems.length === 0 ? `ok: checked ${documents}, everything decodes` : `${problems.length} problem${problems.length === 1 ? '' : 's'} in ${documents}`)
        }
        if (problems.length > 0) {
          if (!o.json) {
            const repairable = [...new Set(problems.filter((p) => p.repairable).map((p) => p.doc))]
            for (const doc of repairable) io.stderr.write(`homeroom docs verify: drop the unreadable entries of ${doc} with 'homeroom docs repair ${doc}'\n`)
            if (problems.some((p) => !p.repairable)) {
              io.stderr.write("homeroom docs verify: fix or remove the other entries named above (export what still decodes with 'homeroom docs export')\n")
            }
          }
          io.exit(1)
        }
      }),
    )

  docs
    .command('repair')
    .description("drop a document's quarantined (unreadable) journal entries, as a new journaled change (origin 'restore')")
    .argument('<name>', 'document name')
    .option('--user <id>', 'who the journal names as the author', CLI_USER)
    .option('--force', 'write even though a server seems to be running (harmless here: no loaded copy holds a quarantined entry)')
    .option('--json', 'machine-readable output')
    .action(
      action('docs repair', async (name: string, o: { user: string; force?: boolean; json?: boolean }) => {
        documentName(name)
        const result = await withStore('write', async (store) => {
          await refuseWhileServing(store, 'repairing', o.force)
          return repair(store, name, o.user)
        })
        if (o.json) return printJson({ doc: name, ...result, dropped: result.dropped.map((q) => ({ ...q, at: iso(q.at), quarantinedAt: iso(q.quarantinedAt) })) })
        if (result.dropped.length === 0) return print(`${name} has no quarantined entries: nothing to repair`)
        for (const q of result.dropped) print(`dropped entry seq ${q.seq} (at ${iso(q.at)}${q.user ? `, by ${q.user}` : ''}): ${q.reason}`)
        print(`repaired ${name}: ${result.dropped.length} entr${result.dropped.length === 1 ? 'y' : 'ies'} dropped, recorded as entry ${result.seq}`)
      }),
    )
}

/**
 * Quarantines what cannot be read (the whole journal is checked, as `verify` does, so this also
 * catches entries no load has met, such as ones a snapshot already covers), then drops the
 * quarantined entries and journals the repair. The current content does not change: loads left
 * those entries out (or took them from a snapshot written before they became unreadable).
 */
async function repair(store: HistoryStore, name: string, user: string): Promise<{ dropped: QuarantinedEntry[]; seq?: number }> {
  await verifyDocument(store, name, { quarantine: true })
  const quarantined = await store.listQuarantined(name)
  if (quarantined.length === 0) {
    if (!(await historyBounds(store, name)).exists) throw new CliError(`no stored history for ${name}: check the name with 'homeroom docs list'`)
    return { dropped: [] }
  }
  // An empty Yjs update: the entry is the journal's note that the repair happened.
  const note = Y.encodeStateAsUpdate(new Y.Doc())
  const { dropped, seq } = await store.dropQuarantined(name, { at: Date.now(), user, origin: 'restore', update: note })
  return { dropped: quarantined.filter((q) => dropped.includes(q.seq)), seq }
}

const CHUNK = 1024 * 1024

/** Writes a large export piece by piece, with a progress bar on a terminal. */
function writeInChunks(file: string, bytes: Uint8Array): void {
  const chunks = Math.ceil(bytes.byteLength / CHUNK)
  const bar = progress('exporting (MiB)', chunks)
  try {
    writeFileSync(file, bytes.subarray(0, CHUNK))
    for (let i = 1; i < chunks; i++) {
      writeFileSync(file, bytes.subarray(i * CHUNK, (i + 1) * CHUNK), { flag: 'a' })
      bar.update(i + 1)
    }
  } finally {
    bar.stop()
  }
}

/** `docs restore --server`: the server computes and applies the change to its live copy. */
async function restoreThroughServer(name: string, at: number, server: string, token: string | undefined): Promise<void> {
  if (!token) throw new CliError('--server needs --token <jwt> of an admin or service (mint one with: homeroom token --sub a1 --role admin --schools <school>)', 2)
  let base: URL
  try {
    base = new URL(server.replace(/^ws(s?):/, 'http$1:'))
  } catch {
    throw new CliError(`--server '${server}' is not a URL such as http://localhost:8400`, 2)
  }
  const url = new URL(`api/v1/docs/${name.split('/').map(encodeURIComponent).join('/')}/restore`, base.href.endsWith('/') ? base : `${base.href}/`)
  let response: Response
  try {
    response = await fetch(url, {
      method: 'POST',
      headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ at: iso(at) }),
      signal: AbortSignal.timeout(30_000),
    })
  } catch (error) {
    throw new CliError(`cannot reach ${base.origin}: ${(error as Error).message}; is the server running?`)
  }
  const body = (await response.json().catch(() => ({}))) as { error?: { code: string; message: string } }
  if (!response.ok) {
    const code = body.error?.code
    // A refusal's message may start with its code (`unauthenticated: bad signature`): say it once.
    const reason = (body.error?.message ?? 'no reason given').replace(code ? new RegExp(`^${code}: `) : /^$/, '')
    const flag = response.status === 401 || response.status === 403 ? '--token: ' : ''
    throw new CliError(`${flag}the server refused (${response.status}${code ? ` ${code}` : ''}): ${reason}`)
  }
  print(`restored ${name} to ${iso(at)} through ${base.origin}; connected clients received the change`)
}
