// The `homeroom` command line on SQLite: the `docs` suite (test/helpers/cli-suite.ts), then what
// does not depend on the store: `.env`, `--version`, `token`, `serve` (port in use, start-up hint,
// heartbeat) and .env.example. Commands run in-process; two runs keep a process of their own
// (`--version`, and `serve` end to end).
import { spawn } from 'node:child_process'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import Database from 'better-sqlite3'
import { cliSuite } from './helpers/cli-suite.ts'
import { runCli, runCliProcess } from './helpers/cli.ts'
import { startServer, tempDir, testEnv } from './helpers/server.ts'
import { connect, until, within } from './helpers/clients.ts'
import { mintToken, teacher } from './helpers/tokens.ts'
import { SqliteStore } from '../server/store/sqlite.ts'
import { loadConfig } from '../server/config.ts'
import { Identities } from '../server/identity.ts'
import { tokenHint } from '../server/main.ts'
import { liveServers } from '../server/store/heartbeat.ts'

cliSuite({
  label: 'SQLite',
  env: {},
  async corruptNewestEntry(dataDir, doc) {
    const db = new Database(join(dataDir, 'homeroom.db'))
    try {
      const { seq, update_bytes } = db.prepare('SELECT seq, update_bytes FROM journal WHERE doc = ? ORDER BY seq DESC LIMIT 1').get(doc) as { seq: number; update_bytes: Buffer }
      db.prepare('UPDATE journal SET update_bytes = ? WHERE seq = ?').run(update_bytes.subarray(0, update_bytes.length - 3), seq)
      return seq
    } finally {
      db.close()
    }
  },
  cleanup: async () => {},
}).run()

test('a reader holding a read transaction does not block the server\'s journal appends', async () => {
  const server = await startServer()
  const client = connect(server.url, 's1/doc/busy', await mintToken(teacher('t1')))
  try {
    await within(client.synced, 5000, 'sync')
    client.doc.getMap('meta').set('title', 'first')
    await client.acknowledged()
    const reader = new SqliteStore(join(server.dataDir, 'homeroom.db'), { readonly: true })
    // The server moves acknowledged entries from its append log into SQLite within milliseconds.
    await until(async () => (await reader.listDocuments()).length === 1, { what: 'the entry in SQLite' })
    reader.db.exec('BEGIN')
    assert.is((await reader.listDocuments()).length, 1)
    for (let i = 0; i < 20; i++) {
      client.doc.getMap('meta').set('title', `edit ${i}`)
      await within(client.acknowledged(), 2000, 'acknowledgement while a reader holds a transaction')
    }
    assert.is((await reader.listDocuments())[0].updates, 1, 'the reader keeps its consistent view')
    reader.db.exec('COMMIT')
    await until(async () => (await reader.listDocuments())[0].updates === 21, { what: 'every acknowledged entry in SQLite' })
    await reader.close()
  } finally {
    client.destroy()
    await server.stop()
  }
})

test('a DATA_DIR without a store is named, with what to check', async () => {
  const result = await runCli(join(tempDir(), 'elsewhere'), ['docs', 'list'])
  assert.is(result.code, 1)
  assert.match(result.stderr, /no store at .*homeroom\.db: nothing was stored yet, or DATA_DIR points elsewhere/)
})

const ROOT = new URL('..', import.meta.url).pathname.replace(/\/$/, '')
const VERSION = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version

test('homeroom --version prints the version of package.json', async () => {
  const result = await runCliProcess(tempDir(), ['--version'])
  assert.is(result.code, 0, result.stderr)
  assert.is(result.stdout, `${VERSION}\n`)
  assert.is((await runCli(tempDir(), ['-V'])).stdout, `${VERSION}\n`)
})

test('.env in the working directory is read by every command; real environment variables win over it', async () => {
  const folder = tempDir()
  writeFileSync(join(folder, '.env'), `# a comment\nDATA_DIR=${join(folder, 'from-file')}\nLOG_LEVEL=silent\n`)
  // In this process's own environment and folder, as the real process runs: process.loadEnvFile.
  const fromFile = await runCli(folder, ['docs', 'list'], {}, { cwd: folder, bare: true, own: true })
  assert.is(fromFile.code, 1)
  assert.match(fromFile.stderr, new RegExp(`no store at ${join(folder, 'from-file')}/homeroom\\.db`))
  const real = await runCli(folder, ['docs', 'list'], { DATA_DIR: join(folder, 'real') }, { cwd: folder, bare: true, own: true })
  assert.match(real.stderr, new RegExp(`no store at ${join(folder, 'real')}/homeroom\\.db`))
  // With an environment of its own (parseEnv), the same rules.
  const inProcess = await runCli(folder, ['docs', 'list'], {}, { cwd: folder, bare: true })
  assert.match(inProcess.stderr, /from-file\/homeroom\.db/)
  // No .env: nothing read, nothing complained about.
  const none = await runCli(folder, ['docs', 'list'], { DATA_DIR: join(folder, 'x') }, { cwd: tempDir(), bare: true })
  assert.match(none.stderr, /^homeroom docs list: no store at .*\/x\/homeroom\.db/)
})

test('.env.example names exactly the variables server/config.ts reads, each commented, with its default', async () => {
  const text = readFileSync(join(ROOT, '.env.example'), 'utf8')
  const lines = text.split('\n')
  const listed = new Map<string, string>()
  for (const [i, line] of lines.entries()) {
    const match = /^# ([A-Z][A-Z0-9_]*)=(.*)$/.exec(line)
    if (!match) continue
    assert.not.ok(listed.has(match[1]), `${match[1]} is listed twice`)
    const above = lines[i - 1] ?? ''
    assert.ok(/^# \S/.test(above) && !/^# [A-Z][A-Z0-9_]*=/.test(above), `${match[1]} has a one-line comment above it`)
    listed.set(match[1], match[2])
  }
  // The variables the schema reads: every key loadConfig looks up.
  const read = new Set<string>()
  loadConfig(new Proxy({}, { get: (_, key) => (typeof key === 'string' && read.add(key), undefined) }))
  assert.equal([...listed.keys()].sort(), [...read].sort())
  // The defaults shown are the defaults: uncommenting every line changes nothing.
  assert.equal(loadConfig(Object.fromEntries(listed)), loadConfig({}))
})

test('homeroom token refuses a DATA_DIR that holds no server files, and says loudly when it writes a secret', async () => {
  const claims = ['token', '--sub', 't1', '--role', 'teacher', '--schools', 's1']
  const empty = join(tempDir(), 'not-the-server')
  const refused = await runCli(empty, claims, { DATA_DIR: empty }, { bare: true })
  assert.is(refused.code, 2)
  assert.is(refused.stdout, '')
  assert.match(refused.stderr, new RegExp(`^homeroom token: no signing secret in DATA_DIR=${empty} \\(it holds neither jwt-secret nor homeroom\\.db.*Point DATA_DIR at the server's folder`))
  assert.not.ok(existsSync(join(empty, 'jwt-secret')), 'no secret invented')
  // The server's folder: the store is there, the secret not yet (the server ran with JWT_SECRET, say).
  const server = tempDir()
  await new SqliteStore(join(server, 'homeroom.db')).close()
  const written = await runCli(server, claims, { DATA_DIR: server }, { bare: true })
  assert.is(written.code, 0, written.stderr)
  assert.match(written.stderr, new RegExp(`^homeroom token: NOTE: DATA_DIR=${server} had no signing secret; wrote a new one to ${server}/jwt-secret`))
  assert.ok(existsSync(join(server, 'jwt-secret')))
  const identity = await new Identities(loadConfig({ DATA_DIR: server })).verify(written.stdout.trim())
  assert.is(identity.sub, 't1')
  // From then on: quiet.
  const again = await runCli(server, claims, { DATA_DIR: server }, { bare: true })
  assert.is(again.code, 0)
  assert.is(again.stderr, '')
  // JWT_SECRET needs no folder at all.
  const withSecret = await runCli(empty, claims, { DATA_DIR: empty, JWT_SECRET: 'a-secret-of-some-length' }, { bare: true })
  assert.is(withSecret.code, 0, withSecret.stderr)
})

test('homeroom token messages name the flag and give the reason once', async () => {
  const dir = tempDir()
  const token = (...args: string[]) => runCli(dir, ['token', ...args])
  const cases: Array<[string[], RegExp]> = [
    [['--sub', 't1', '--role', 'teacher', '--schools', 's1', '--ttl', 'abc'], /^homeroom token: --ttl: token lifetime abc: must be seconds or a number with s, m, h or d \(15m, 8h, 1d\)\n$/],
    [['--sub', 't1', '--role', 'teacher', '--schools', 's1', '--ttl', '30d'], /^homeroom token: --ttl: token lifetime 30d \(2592000 s\) is longer than MAX_TOKEN_TTL allows/],
    [['--sub', 't 1', '--role', 'teacher', '--schools', 's1'], /^homeroom token: --sub 't 1': must be letters, digits, _ or - \(1 to 64 characters\)\n$/],
    [['--sub', 't1', '--role', 'janitor', '--schools', 's1'], /^homeroom token: --role 'janitor': must be one of student, teacher, .*service\n$/],
    [['--sub', 't1', '--role', 'teacher', '--schools', '*'], /^homeroom token: --schools: "\*" \(every school\) is only for --role service\n$/],
    [['--sub', 't1', '--role', 'teacher', '--schools', 's1,b a d'], /^homeroom token: --schools 'b a d': must be letters/],
    [['--sub', 't1', '--role', 'teacher', '--schools', ','], /^homeroom token: --schools: give at least one\n$/],
    [['--role', 'teacher', '--schools', 's1'], /required option '--sub <id>' not specified/],
  ]
  for (const [args, expected] of cases) {
    const result = await token(...args)
    assert.is(result.code, 2, args.join(' '))
    assert.is(result.stdout, '')
    assert.match(result.stderr, expected, result.stderr)
    assert.not.match(result.stderr, /Invalid time period|Invalid string|(\w+: )\1/)
  }
})

test('the start-up hint carries the DATA_DIR in force; pasted, it mints a token the server accepts', async () => {
  const dir = tempDir()
  const config = loadConfig({ DATA_DIR: join(dir, 'data') })
  assert.is(tokenHint(config, {}, {}, ROOT), `DATA_DIR=${dir}/data npm run --silent homeroom -- token --sub t1 --role teacher --schools s1`)
  assert.match(tokenHint(config, {}, { JWT_SECRET: 'x'.repeat(20), JWT_ISSUER: 'i' }, ROOT), /\(with the server's JWT_SECRET, JWT_ISSUER in its environment\)$/)
  assert.not.match(tokenHint(config, { fromEnvFile: new Set(['JWT_SECRET']) }, { JWT_SECRET: 'x'.repeat(20) }, ROOT), /with the server's/)
  // From another folder: this Node and this script, which work anywhere.
  const hint = tokenHint(config, {}, {}, dir)
  assert.ok(hint.startsWith(`DATA_DIR=${dir}/data ${process.execPath} ${ROOT}/scripts/homeroom.ts token`), hint)
  // Pasted in some other folder, the server's data folder existing: the same variable and arguments, run in-process.
  const [assignment, node, script, ...args] = hint.split(' ')
  assert.equal([node, script], [process.execPath, `${ROOT}/scripts/homeroom.ts`])
  const [variable, value] = assignment.split('=')
  const server = await startServer({ JWT_SECRET: '' }, { dataDir: join(dir, 'data') })
  try {
    const pasted = await runCli(value, args, { [variable]: value }, { cwd: tempDir(), bare: true })
    assert.is(pasted.stderr, '')
    assert.is((await server.app.identities.verify(pasted.stdout.trim())).sub, 't1')
  } finally {
    await server.stop()
  }
})

/** `homeroom serve` as a process; resolves with its log lines so far once it logs `ready`. */
async function serveProcess(dataDir: string) {
  const child = spawn(process.execPath, ['--disable-warning=ExperimentalWarning', join(ROOT, 'scripts/homeroom.ts'), 'serve'], {
    env: { ...process.env, ...testEnv(dataDir, { LOG_LEVEL: 'info' }) },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stderr = ''
  child.stderr.on('data', (d) => (stderr += d))
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve))
  const lines: Array<Record<string, any>> = []
  const ready = new Promise<Record<string, any> | undefined>((resolve) => {
    createInterface({ input: child.stdout }).on('line', (line) => {
      try {
        const entry = JSON.parse(line)
        lines.push(entry)
        if (String(entry.msg).startsWith('ready:')) resolve(entry)
      } catch {
        // not a log line
      }
    })
    exited.then(() => resolve(undefined))
  })
  return { child, ready, exited, lines, stderr: () => stderr }
}

test('serve: heartbeat in the store while it runs, gone when it stops; a port in use is one line and exit 1', async () => {
  const dataDir = tempDir()
  const first = await serveProcess(dataDir)
  try {
    const ready = await within(first.ready, 15_000, 'the server to be ready')
    assert.ok(ready, first.stderr())
    const port = first.lines.find((l) => typeof l.port === 'number')!.port as number
    assert.match(ready!.msg, new RegExp(`mint a token with: DATA_DIR=${dataDir} `))
    // The running server is found through the store, not through PORT.
    const refused = await runCli(dataDir, ['docs', 'compact'], { PORT: '9' })
    assert.is(refused.code, 1)
    assert.match(refused.stderr, new RegExp(`a Homeroom server is running at http://127\\.0\\.0\\.1:${port} \\(instance \\S+, pid ${first.child.pid} `))
    // A second server on the same port (in-process: it never gets as far as serving).
    const second = await runCli(tempDir(), ['serve'], { PORT: String(port) })
    assert.is(second.code, 1)
    assert.is(second.stderr, `homeroom: port ${port} is in use (another program, or another Homeroom, listens on 127.0.0.1:${port}): stop it or set PORT to a free port\n`)
  } finally {
    first.child.kill('SIGTERM')
    await first.exited
  }
  const store = new SqliteStore(join(dataDir, 'homeroom.db'), { readonly: true })
  try {
    assert.equal(await liveServers(store), [], 'the stopped server deleted its heartbeat')
  } finally {
    await store.close()
  }
})

test('serve: a port held by another program is named the same way', async () => {
  const holder = createServer()
  await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve))
  const port = (holder.address() as { port: number }).port
  try {
    const result = await runCli(tempDir(), ['serve'], { PORT: String(port) })
    assert.is(result.code, 1)
    assert.match(result.stderr, new RegExp(`^homeroom: port ${port} is in use \\(`))
    assert.not.match(result.stderr, /\n\s+at /, 'no stack trace')
  } finally {
    holder.close()
  }
})

test.run()
