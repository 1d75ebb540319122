// The server process: bad configuration exits 2 naming the variable; SIGTERM shuts down
// gracefully (exit 0, snapshots written); the start-up log says where it listens and how to mint;
// WebSocket pings (WS_PING_INTERVAL_MS) close a client that stops answering (WS_PING_TIMEOUT_MS)
// and keep one that answers but sends nothing.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { rmSync } from 'node:fs'
import * as encoding from 'lib0/encoding'
import WebSocket from 'ws'
import { serveUntilExit, startServer, startServerProcess, tempDir, testEnv } from './helpers/server.ts'
import { closeClients, connect, DEADLINE_MS, until, within } from './helpers/clients.ts'
import { mintToken, teacher } from './helpers/tokens.ts'
import { SqliteStore } from '../server/store/sqlite.ts'

test.after.each(closeClients)

const serve = (env: Record<string, string>) => serveUntilExit({ ...process.env, ...env } as Record<string, string>)

// The processes of one test run at once: each spends most of its life loading the code.
test('a bad configuration value exits 2 with one line naming the variable', async () => {
  const cases = [['PORT', 'eighty'], ['MAX_MESSAGES_PER_SEC', '-5'], ['DATABASE_URL', 'mysql://x'], ['JWT_SECRET', 'short']]
  const results = await Promise.all(cases.map(([variable, value]) => serve({ ...testEnv(tempDir()), [variable]: value })))
  for (const [i, [variable, value]] of cases.entries()) {
    const result = results[i]
    assert.is(result.status, 2, `${variable}=${value}`)
    const lines = result.stderr.trim().split('\n')
    assert.is(lines.length, 1)
    assert.match(lines[0], new RegExp(`^homeroom: bad configuration: ${variable}: `))
  }
})

test('bad values are named without printing secrets; unusable keys and data directories exit 2 too', async () => {
  const [secret, url, key, dir] = await Promise.all([
    serve({ ...testEnv(tempDir()), JWT_SECRET: 'hunter2secret' }),
    serve({ ...testEnv(tempDir()), DATABASE_URL: 'mysql://user:S3cretPw@db/x' }),
    serve({ ...testEnv(tempDir()), JWT_SECRET: '', JWT_PUBLIC_KEY: '-----BEGIN PUBLIC KEY-----garbage' }),
    serve({ ...testEnv(join(process.argv[1], 'not-a-directory')) }),
  ])
  assert.is(secret.status, 2)
  assert.not.ok(secret.stderr.includes('hunter2'), secret.stderr)
  assert.not.ok(url.stderr.includes('S3cretPw'), url.stderr)
  assert.is(key.status, 2)
  assert.match(key.stderr, /^homeroom: bad configuration: JWT_PUBLIC_KEY: is not a valid PEM key\n$/)
  assert.is(dir.status, 2)
  assert.match(dir.stderr, /^homeroom: bad configuration: DATA_DIR: cannot open /)
})

test('SIGTERM stops accepting, snapshots documents and exits 0', async () => {
  const dataDir = tempDir()
  const server = await startServerProcess(dataDir)
  const client = connect(server.url, 's1/doc/term', await mintToken(teacher()))
  await within(client.synced, DEADLINE_MS, 'sync')
  client.doc.getMap('meta').set('title', 'before shutdown')
  await client.acknowledged()
  server.child.kill('SIGTERM')
  assert.is(await within(server.exited, DEADLINE_MS, 'exit'), 0)
  const store = new SqliteStore(join(dataDir, 'homeroom.db'), { readonly: true })
  const snapshot = await store.latestSnapshot('s1/doc/term')
  assert.ok(snapshot, 'a snapshot was written on shutdown')
  await store.close()
  rmSync(dataDir, { recursive: true, force: true })
})

test('npm start defaults: port 8400, SQLite and a generated secret in ./data, a helpful start-up log', async () => {
  const dataDir = tempDir()
  const env = { PORT: '8400', JWT_SECRET: '' }
  const server = await startServerProcess(dataDir, env).catch((error) => {
    throw new Error(`could not start on 8400 (is something else using it?): ${error.message}`)
  })
  try {
    assert.is(server.port, 8400)
    const health = await fetch('http://127.0.0.1:8400/health')
    assert.is(health.status, 200)
    const token = spawnSync(process.execPath, ['scripts/homeroom.ts', 'token', '--sub', 't1', '--role', 'teacher', '--schools', 's1'], {
      env: { ...process.env, DATA_DIR: dataDir, JWT_SECRET: '' },
      encoding: 'utf8',
    })
    assert.is(token.status, 0, token.stderr)
    const client = connect(server.url, 's1/doc/hello', token.stdout.trim())
    await within(client.synced, DEADLINE_MS, 'a token minted by the CLI opens a document')
  } finally {
    server.child.kill('SIGTERM')
    await server.exited
    rmSync(dataDir, { recursive: true, force: true })
  }
})

/** A bare WebSocket that authenticates one document, then sends nothing at all. */
async function quietClient(url: string, name: string, token: string, answersPings: boolean): Promise<WebSocket> {
  const ws = new WebSocket(url, { autoPong: answersPings })
  await within(new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject)), DEADLINE_MS, 'open')
  const authenticated = new Promise<void>((resolve) => {
    ws.on('message', (data: Buffer) => {
      // <name> Auth(2) Authenticated(2): the first document authenticated, so Hocuspocus' idle rule applies.
      if (data.includes(Buffer.from(name)) && data[name.length + 1] === 2 && data[name.length + 2] === 2) resolve()
    })
  })
  const auth = encoding.createEncoder()
  encoding.writeVarString(auth, name)
  encoding.writeVarUint(auth, 2) // Auth
  encoding.writeVarUint(auth, 0) // Token
  encoding.writeVarString(auth, token)
  ws.send(encoding.toUint8Array(auth))
  await within(authenticated, DEADLINE_MS, 'authenticated')
  return ws
}

test('a client that stops answering pings is closed; one that answers them but sends nothing stays', async () => {
  const server = await startServer({ WS_PING_INTERVAL_MS: '1000', WS_PING_TIMEOUT_MS: '2000' })
  const open: WebSocket[] = []
  try {
    const token = await mintToken(teacher())
    const silent = await quietClient(server.url, 's1/doc/pings', token, false)
    const answering = await quietClient(server.url, 's1/doc/pings', token, true)
    open.push(silent, answering)
    await within(new Promise((r) => silent.once('ping', r)), DEADLINE_MS, 'a ping from the server')
    const closed = new Promise<number>((r) => silent.once('close', (code) => r(code)))
    await within(closed, DEADLINE_MS, 'the silent socket to be closed')
    assert.is(answering.readyState, WebSocket.OPEN, 'the answering socket is open while the silent one is closed')
    // Longer than Hocuspocus' idle check takes (at most twice the timeout): pongs count as life.
    // Counted in pings (one a second), not in time, so a slow machine stretches the wait with them.
    let pings = 0
    answering.on('ping', () => pings++)
    await until(() => pings >= 5 || answering.readyState !== WebSocket.OPEN, { what: 'five more pings to the answering socket' })
    assert.is(answering.readyState, WebSocket.OPEN, 'pongs alone keep a quiet client connected')
  } finally {
    for (const ws of open) ws.terminate()
    await server.stop()
  }
})

test.run()
