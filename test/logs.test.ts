// What a server process writes: `homeroom serve` as a child process, clients that write
// something forbidden and open something forbidden (with a Hocuspocus provider, with a bad token,
// and through the y-websocket endpoint with the token in the URL). Every line of stdout and
// stderr is one JSON object; refusals are info lines with reason, document and user; no token
// appears anywhere; with LOG_LEVEL=silent nothing at all is written.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { spawn } from 'node:child_process'
import { rmSync } from 'node:fs'
import { createServer } from 'node:net'
import WebSocket from 'ws'
import { tempDir, testEnv } from './helpers/server.ts'
import { closeClients, connect, DEADLINE_MS, until, within } from './helpers/clients.ts'
import { mintToken, student } from './helpers/tokens.ts'

interface Served {
  url: string
  stdout: () => string
  stderr: () => string
  stop(): Promise<number | null>
}

async function freePort(): Promise<number> {
  const probe = createServer()
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r))
  const { port } = probe.address() as { port: number }
  await new Promise((r) => probe.close(r))
  return port
}

/** `homeroom serve` with stdout and stderr captured; ready once /health answers (the log may be silent). */
async function serve(env: Record<string, string>): Promise<Served> {
  const dataDir = tempDir()
  const port = await freePort()
  const child = spawn(process.execPath, ['scripts/homeroom.ts', 'serve'], {
    env: { ...process.env, ...testEnv(dataDir, { PORT: String(port), ...env }), CI: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  let err = ''
  child.stdout.on('data', (d) => (out += d))
  child.stderr.on('data', (d) => (err += d))
  // 'close', not 'exit': it comes once both pipes are drained, so every line the server wrote
  // before exiting is captured, however late after the refusal a client saw.
  const exited = new Promise<number | null>((r) => child.once('close', (code) => r(code)))
  await until(async () => {
    if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}: ${err}`)
    return fetch(`http://127.0.0.1:${port}/health`).then((r) => r.ok, () => false)
  }, { what: 'the server to answer /health' })
  return {
    url: `ws://127.0.0.1:${port}`,
    stdout: () => out,
    stderr: () => err,
    async stop() {
      child.kill('SIGTERM')
      const code = await within(exited, DEADLINE_MS, 'exit')
      rmSync(dataDir, { recursive: true, force: true })
      return code
    },
  }
}

/** The forbidden things a client does; resolves once the server answered each. Returns the tokens used. */
async function misbehave(url: string): Promise<string[]> {
  const token = await mintToken(student('u1'))
  const writer = connect(url, 's1/doc/logged', token)
  await within(writer.synced, DEADLINE_MS, 'sync')
  writer.doc.getMap('meta').set('title', 'a student may not set the title')
  assert.match(await within(writer.closed, DEADLINE_MS, 'the refused write to close the connection'), /^forbidden-write: meta\/title/)

  const opener = connect(url, 's2/doc/logged', token)
  assert.match(await within(opener.refused, DEADLINE_MS, 'the refused opening'), /^forbidden: u1 is not a member of school s2/)

  const badToken = `${token.slice(0, -4)}AAAA`
  const forged = connect(url, 's1/doc/logged', badToken)
  assert.match(await within(forged.refused, DEADLINE_MS, 'the forged token to be refused'), /^unauthenticated/)

  const y = new WebSocket(`${url}/y/s2/doc/logged?token=${token}`)
  await within(new Promise((r) => y.once('close', r)), DEADLINE_MS, 'the y-websocket refusal')
  closeClients()
  return [token, badToken]
}

const parse = (text: string, stream: string): Array<Record<string, unknown>> =>
  text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => {
      try {
        const entry = JSON.parse(line)
        assert.type(entry, 'object', `${stream}: not an object: ${line}`)
        return entry
      } catch {
        assert.unreachable(`${stream}: a line that is not JSON: ${line}`)
        throw new Error('unreachable')
      }
    })

test('every line is one JSON object; refusals are info lines with reason, document and user; no token is written', async () => {
  const server = await serve({ LOG_LEVEL: 'info' })
  let tokens: string[] = []
  try {
    tokens = await misbehave(server.url)
  } finally {
    assert.is(await server.stop(), 0)
  }
  const out = server.stdout()
  const err = server.stderr()
  const lines = [...parse(out, 'stdout'), ...parse(err, 'stderr')]
  assert.ok(lines.length > 0)
  for (const token of tokens) {
    for (const part of [token, ...token.split('.').filter((p) => p.length > 16)]) {
      assert.not.ok(out.includes(part) || err.includes(part), `a token (or part of one) was written: ${part.slice(0, 12)}…`)
    }
  }
  assert.is(err, '', 'nothing on stderr')

  const refusedWrite = lines.filter((l) => typeof l.reason === 'string' && l.reason.startsWith('forbidden-write: meta/title'))
  assert.ok(refusedWrite.length > 0, 'the refused write is logged')
  for (const line of refusedWrite) {
    assert.is(line.level, 30, `refused write at info: ${JSON.stringify(line)}`)
    assert.is(line.doc, 's1/doc/logged')
    assert.is(line.user, 'u1')
  }
  const refusedOpen = lines.filter((l) => typeof l.reason === 'string' && l.reason.startsWith('forbidden: u1 is not a member of school s2'))
  assert.ok(refusedOpen.length > 0, `the refused opening is logged at info: ${JSON.stringify(lines.filter((l) => l.reason))}`)
  for (const line of refusedOpen) {
    assert.is(line.level, 30, `refused opening at info: ${JSON.stringify(line)}`)
    assert.is(line.doc, 's2/doc/logged')
    assert.is(line.user, 'u1')
  }
  assert.ok(lines.some((l) => typeof l.reason === 'string' && l.reason.startsWith('unauthenticated') && l.level === 30), 'the forged token is logged at info')
})

test('LOG_LEVEL=silent: nothing is written, whatever clients do', async () => {
  const server = await serve({ LOG_LEVEL: 'silent' })
  try {
    await misbehave(server.url)
  } finally {
    assert.is(await server.stop(), 0)
  }
  assert.is(server.stdout(), '', 'stdout')
  assert.is(server.stderr(), '', 'stderr')
})

test.run()
