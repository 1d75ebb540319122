#!/usr/bin/env node
// Builds and runs the Dockerfile without a Docker engine, so CI proves the image builds and serves.
//
// The base image (node:<version>-<suite>-slim) is recreated once and cached outside the repo:
// Debian <suite> by `debootstrap --variant=minbase`, the pinned Node from the npm registry's
// node-<platform>-<arch> package (bin/node and the headers, in /usr/local as the official image
// has them), the npm that Node release bundles, and the `node` user (uid 1000). Each stage of the
// Dockerfile then gets its own overlay over that base, and the Dockerfile's FROM, ARG, ENV,
// WORKDIR, COPY, RUN and USER steps run in it as written (RUN through chroot as the stage's user,
// with /proc and a minimal /dev mounted); any failing step fails the check. The last stage is then
// started the way `docker run` would: its CMD, as its USER, in its WORKDIR, with its ENV, in a
// network namespace of its own, with a fresh volume on each VOLUME. The check waits for the
// Dockerfile's HEALTHCHECK to pass, asks GET /readyz for a 200 itself, checks the server runs as
// the unprivileged user, stops it with SIGTERM and cleans up.
//
// Usage (root, Debian): node scripts/docker-check.ts [--dockerfile FILE] [--context DIR] [--keep]
// Environment: DOCKER_CHECK_CACHE (default /var/cache/homeroom-docker-check),
// DOCKER_CHECK_TIMEOUT_S (default 480: the whole check, then it fails by itself),
// DOCKER_CHECK_MIRROR (default http://deb.debian.org/debian), DOCKER_CHECK_NPM (npm version to
// put in the base, default: the one the Node release notes name).
import { spawn, spawnSync, type SpawnOptions } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'

const started = Date.now()
const repo = path.resolve(import.meta.dirname, '..')
const args = process.argv.slice(2)
const option = (name: string): string | undefined => {
  const i = args.indexOf(name)
  return i >= 0 ? args[i + 1] : undefined
}
const contextDir = path.resolve(option('--context') ?? repo)
const dockerfilePath = path.resolve(option('--dockerfile') ?? path.join(contextDir, 'Dockerfile'))
const keep = args.includes('--keep')
const CACHE = process.env.DOCKER_CHECK_CACHE ?? '/var/cache/homeroom-docker-check'
const LIMIT_S = Number(process.env.DOCKER_CHECK_TIMEOUT_S ?? 480)
const MIRROR = process.env.DOCKER_CHECK_MIRROR ?? 'http://deb.debian.org/debian'
/** Bumped whenever the way the base is made changes, so cached bases are made anew. */
const RECIPE = 'homeroom-docker-check base v1'
const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'

class CheckError extends Error {}
const fail = (message: string): never => {
  throw new CheckError(message)
}
const elapsed = () => `${((Date.now() - started) / 1000).toFixed(1)}s`
const say = (message: string) => process.stdout.write(`docker-check [${elapsed()}] ${message}\n`)

// ---------------------------------------------------------------- cleanup and the time limit

const mounts: string[] = []
const workDirs: string[] = []
const groups = new Set<number>()
let cleaned = false

function cleanup(): void {
  if (cleaned) return
  cleaned = true
  for (const pgid of groups) {
    try {
      process.kill(-pgid, 'SIGKILL')
    } catch {}
  }
  for (const target of mounts.splice(0).reverse()) {
    if (spawnSync('umount', [target], { stdio: 'ignore' }).status !== 0) spawnSync('umount', ['-l', target], { stdio: 'ignore' })
  }
  for (const dir of workDirs.splice(0)) {
    const stillMounted = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').some((line) => line.split(' ')[4]?.startsWith(dir + '/'))
    if (stillMounted) process.stderr.write(`docker-check: left ${dir} in place: something is still mounted under it\n`)
    else if (keep) process.stderr.write(`docker-check: kept ${dir}\n`)
    else spawnSync('rm', ['-rf', '--one-file-system', dir], { stdio: 'ignore' })
  }
}

const deadline = started + LIMIT_S * 1000
const remainingMs = () => deadline - Date.now()
const watchdog = setTimeout(() => {
  process.stderr.write(`docker-check: FAILED: the check took longer than ${LIMIT_S}s (DOCKER_CHECK_TIMEOUT_S)\n`)
  cleanup()
  process.exit(124)
}, LIMIT_S * 1000)
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(signal, () => {
    process.stderr.write(`docker-check: ${signal}: cleaning up\n`)
    cleanup()
    process.exit(130)
  })
}
process.on('exit', cleanup)

// ---------------------------------------------------------------- running commands

interface RunOptions extends SpawnOptions {
  /** Longest time the command may take; never more than what is left of the whole check. */
  timeoutMs?: number
  /** Prefix for each line of output (output is passed through otherwise). */
  label?: string
}

/** Runs a command in its own process group; resolves with its exit status (killed on timeout). */
function run(command: string, argv: string[], options: RunOptions = {}): Promise<number> {
  const { timeoutMs = remainingMs(), label, ...spawnOptions } = options
  return new Promise((resolve, reject) => {
    const child = spawn(command, argv, { stdio: label ? ['ignore', 'pipe', 'pipe'] : ['ignore', 'inherit', 'inherit'], detached: true, ...spawnOptions })
    if (label) {
      for (const stream of [child.stdout, child.stderr]) {
        let rest = ''
        stream?.on('data', (chunk: Buffer) => {
          const lines = (rest + chunk.toString()).split('\n')
          rest = lines.pop() ?? ''
          for (const line of lines) process.stdout.write(`${label}${line}\n`)
        })
        stream?.on('end', () => rest && process.stdout.write(`${label}${rest}\n`))
      }
    }
    if (child.pid) groups.add(child.pid)
    const timer = setTimeout(() => {
      process.stderr.write(`docker-check: ${command} took longer than ${Math.round(Math.min(timeoutMs, remainingMs()) / 1000)}s: killed\n`)
      try {
        process.kill(-child.pid!, 'SIGKILL')
      } catch {}
    }, Math.max(1, Math.min(timeoutMs, remainingMs())))
    child.on('error', reject)
    child.on('exit', (code, signal) => {
      clearTimeout(timer)
      if (child.pid) groups.delete(child.pid)
      resolve(code ?? (signal ? 128 : 1))
    })
  })
}

async function must(command: string, argv: string[], options: RunOptions = {}): Promise<void> {
  const status = await run(command, argv, options)
  if (status !== 0) fail(`${command} ${argv.join(' ')} exited with ${status}`)
}

function output(command: string, argv: string[], options: SpawnOptions = {}): string {
  const result = spawnSync(command, argv, { encoding: 'utf8', timeout: Math.max(1000, remainingMs()), ...options })
  if (result.status !== 0) fail(`${command} ${argv.join(' ')} exited with ${result.status ?? result.signal}: ${result.stderr}`)
  return String(result.stdout).trim()
}

const have = (tool: string) => spawnSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' }).status === 0

// ---------------------------------------------------------------- the Dockerfile

interface Instruction {
  line: number
  keyword: string
  rest: string
}

function parseDockerfile(text: string): Instruction[] {
  const instructions: Instruction[] = []
  const lines = text.split('\n')
  for (let i = 0; i < lines.length; i++) {
    const first = lines[i]
    if (/^\s*(#.*)?$/.test(first)) continue
    const line = i + 1
    let joined = first.replace(/\s+$/, '')
    while (joined.endsWith('\\')) {
      joined = joined.slice(0, -1)
      i++
      if (i >= lines.length) break
      const next = lines[i]
      if (/^\s*(#.*)?$/.test(next)) {
        joined += '\\' // comment and blank lines inside a continued instruction are dropped
        continue
      }
      joined += next.replace(/\s+$/, '')
    }
    const match = /^\s*([A-Za-z]+)\s*(.*)$/s.exec(joined)
    if (!match) fail(`Dockerfile:${line}: cannot read ${JSON.stringify(first)}`)
    instructions.push({ line, keyword: match![1].toUpperCase(), rest: match![2].trim() })
  }
  return instructions
}

/** `["a", "b"]` (exec form) or undefined (shell form). */
function execForm(rest: string): string[] | undefined {
  if (!rest.startsWith('[')) return undefined
  try {
    const value: unknown = JSON.parse(rest)
    if (Array.isArray(value) && value.every((v) => typeof v === 'string')) return value
  } catch {}
  return undefined
}

/** Leading `--name=value` flags. */
function flags(rest: string): { flags: Map<string, string>; rest: string } {
  const found = new Map<string, string>()
  let remaining = rest
  for (;;) {
    const match = /^--([a-z-]+)(?:=(\S*))?\s*/.exec(remaining)
    if (!match) break
    found.set(match[1], match[2] ?? 'true')
    remaining = remaining.slice(match[0].length)
  }
  return { flags: found, rest: remaining }
}

/** Words with shell-like quoting (as ENV, LABEL and the shell forms of COPY take them). */
function words(text: string): string[] {
  const out: string[] = []
  let current = ''
  let inWord = false
  for (let i = 0; i < text.length; i++) {
    const c = text[i]
    if (c === '\\' && i + 1 < text.length) {
      current += text[++i]
      inWord = true
    } else if (c === '"' || c === "'") {
      const end = text.indexOf(c, i + 1)
      if (end < 0) fail(`unterminated quote in ${JSON.stringify(text)}`)
      let quoted = text.slice(i + 1, end)
      if (c === '"') quoted = quoted.replace(/\\(["\\$])/g, '$1')
      current += quoted
      inWord = true
      i = end
    } else if (/\s/.test(c)) {
      if (inWord) out.push(current)
      current = ''
      inWord = false
    } else {
      current += c
      inWord = true
    }
  }
  if (inWord) out.push(current)
  return out
}

/** $VAR, ${VAR}, ${VAR:-default}, ${VAR:+alternative}, as Docker substitutes them. */
function substitute(text: string, env: Map<string, string>): string {
  return text.replace(/\\\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::([-+])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)/g, (whole, braced, op, word, bare) => {
    if (whole === '\\$') return '$'
    const name = braced ?? bare
    const value = env.get(name)
    if (op === '-') return value ? value : word
    if (op === '+') return value ? word : ''
    return value ?? ''
  })
}

function durationMs(value: string | undefined, fallback: number): number {
  if (!value) return fallback
  let total = 0
  for (const [, n, unit] of value.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)) total += Number(n) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[unit as 'ms']
  return total || fallback
}

// ---------------------------------------------------------------- .dockerignore

interface IgnoreRule {
  negate: boolean
  regex: RegExp
}

function readDockerignore(dir: string): IgnoreRule[] {
  const file = path.join(dir, '.dockerignore')
  if (!fs.existsSync(file)) return []
  const rules: IgnoreRule[] = []
  for (const raw of fs.readFileSync(file, 'utf8').split('\n')) {
    let pattern = raw.trim()
    if (!pattern || pattern.startsWith('#')) continue
    const negate = pattern.startsWith('!')
    if (negate) pattern = pattern.slice(1).trim()
    pattern = path.posix.normalize(pattern).replace(/^\/+/, '').replace(/\/+$/, '')
    let source = ''
    for (let i = 0; i < pattern.length; i++) {
      const c = pattern[i]
      if (c === '*' && pattern[i + 1] === '*') {
        source += pattern[i + 2] === '/' ? '(?:.*/)?' : '.*'
        i += pattern[i + 2] === '/' ? 2 : 1
      } else if (c === '*') source += '[^/]*'
      else if (c === '?') source += '[^/]'
      else if (c === '[') {
        const end = pattern.indexOf(']', i)
        source += end > i ? pattern.slice(i, end + 1).replace('[!', '[^') : '\\['
        i = end > i ? end : i
      } else source += c.replace(/[.+^${}()|\\]/g, '\\$&')
    }
    rules.push({ negate, regex: new RegExp(`^${source}$`) })
  }
  return rules
}

/** Docker's rule: a path is left out when it or a folder above it matches; the last matching rule wins. */
function ignored(rules: IgnoreRule[], relative: string): boolean {
  if (!rules.length) return false
  const parts = relative.split('/')
  let result = false
  for (const rule of rules) {
    for (let n = 1; n <= parts.length; n++) {
      if (rule.regex.test(parts.slice(0, n).join('/'))) {
        result = !rule.negate
        break
      }
    }
  }
  return result
}

// ---------------------------------------------------------------- users inside a root

interface Identity {
  uid: number
  gid: number
  groups: number[]
  home: string
  name: string
}

function identity(root: string, spec: string): Identity {
  const passwd = fs.readFileSync(path.join(root, 'etc/passwd'), 'utf8').split('\n').map((l) => l.split(':'))
  const group = fs.readFileSync(path.join(root, 'etc/group'), 'utf8').split('\n').map((l) => l.split(':'))
  const [userPart, groupPart] = spec.split(':')
  const entry = passwd.find((p) => p[0] === userPart || (/^\d+$/.test(userPart) && p[2] === userPart))
  if (!entry && !/^\d+$/.test(userPart)) fail(`unable to find user ${userPart} in the image's /etc/passwd`)
  const uid = entry ? Number(entry[2]) : Number(userPart)
  let gid = entry ? Number(entry[3]) : 0
  if (groupPart !== undefined) {
    const g = group.find((x) => x[0] === groupPart || (/^\d+$/.test(groupPart) && x[2] === groupPart))
    if (!g && !/^\d+$/.test(groupPart)) fail(`unable to find group ${groupPart} in the image's /etc/group`)
    gid = g ? Number(g[2]) : Number(groupPart)
  }
  const name = entry?.[0] ?? userPart
  const supplementary = group.filter((g) => (g[3] ?? '').split(',').includes(name)).map((g) => Number(g[2]))
  return { uid, gid, groups: [...new Set([gid, ...supplementary])], home: entry?.[5] || '/', name }
}

/** chroot's arguments that run as `who` in `root`, in `workdir`, the command following. */
function chrootArgs(root: string, who: Identity, workdir: string): string[] {
  const user = who.uid === 0 && who.gid === 0 ? [] : [`--userspec=${who.uid}:${who.gid}`, `--groups=${who.groups.join(',')}`]
  return [...user, root, '/bin/sh', '-c', 'cd "$0" || exit 1; exec "$@"', workdir]
}

// ---------------------------------------------------------------- the base image

interface Base {
  suite: string
  nodeVersion: string
  root: string
  env: Map<string, string>
}

const platformArch = () => {
  const arch = { x64: 'x64', arm64: 'arm64' }[process.arch as 'x64']
  if (!arch || process.platform !== 'linux') fail(`no node-${process.platform}-${process.arch} package to make the base from`)
  return `linux-${arch}`
}

async function npmPack(spec: string, into: string): Promise<string> {
  fs.mkdirSync(into, { recursive: true })
  const json = output('npm', ['pack', spec, '--json', '--pack-destination', into], { cwd: into })
  const name = (JSON.parse(json) as { filename: string }[])[0].filename
  return path.join(into, name.replace(/^@/, '').replace(/\//g, '-'))
}

async function debianRoot(suite: string): Promise<string> {
  const dir = path.join(CACHE, `debian-${suite}-minbase`)
  if (fs.existsSync(path.join(dir, '.ready'))) return dir
  if (!have('debootstrap')) {
    say('installing debootstrap from Debian packages')
    await must('apt-get', ['update', '-qq'])
    await must('apt-get', ['install', '-y', '-qq', 'debootstrap'], { env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } })
  }
  say(`debootstrap --variant=minbase ${suite} (cached in ${dir})`)
  const tmp = `${dir}.tmp-${process.pid}`
  fs.rmSync(tmp, { recursive: true, force: true })
  workDirs.push(tmp)
  await must('debootstrap', ['--variant=minbase', suite, tmp, MIRROR], { timeoutMs: 300_000, label: '  [debootstrap] ' })
  fs.writeFileSync(path.join(tmp, '.ready'), `${suite} ${MIRROR}\n`)
  fs.rmSync(dir, { recursive: true, force: true })
  fs.renameSync(tmp, dir)
  return dir
}

/** The npm that a Node release bundles, from the release notes the node package ships. */
function bundledNpm(changelog: string, version: string): string {
  const at = changelog.indexOf(`<a id="${version}"></a>`)
  const match = at >= 0 ? /upgrade npm to (\d+\.\d+\.\d+)/.exec(changelog.slice(at)) : null
  if (!match) fail(`cannot tell which npm Node ${version} bundles; set DOCKER_CHECK_NPM`)
  return match![1]
}

async function baseImage(image: string): Promise<Base> {
  const match = /^node:(\d+\.\d+\.\d+)-(bookworm|trixie)-slim$/.exec(image)
  if (!match) fail(`FROM ${image}: docker-check recreates only node:<x.y.z>-<bookworm|trixie>-slim (a pinned Node on a Debian slim base)`)
  const [, nodeVersion, suite] = match!
  const pinned = (JSON.parse(fs.readFileSync(path.join(contextDir, 'package.json'), 'utf8')) as { devDependencies?: Record<string, string> }).devDependencies?.node
  if (pinned !== nodeVersion) fail(`FROM ${image} is Node ${nodeVersion}, but package.json pins the node devDependency at ${pinned}: keep them the same`)
  const env = new Map([['PATH', DEFAULT_PATH], ['NODE_VERSION', nodeVersion]])
  const root = path.join(CACHE, `base-${suite}-node${nodeVersion}-${platformArch()}`)
  const recipe = `${RECIPE}\n${image}\n${process.env.DOCKER_CHECK_NPM ?? ''}\n`
  if (fs.existsSync(path.join(root, '.ready')) && fs.readFileSync(path.join(root, '.ready'), 'utf8') === recipe) {
    say(`base ${image}: cached in ${root}`)
    return { suite, nodeVersion, root, env }
  }
  const debian = await debianRoot(suite)
  say(`base ${image}: Debian ${suite} + Node ${nodeVersion} from the npm registry`)
  const tmp = `${root}.tmp-${process.pid}`
  fs.rmSync(tmp, { recursive: true, force: true })
  workDirs.push(tmp)
  await must('cp', ['-a', debian, tmp])
  fs.rmSync(path.join(tmp, '.ready'))
  // As debian:<suite>-slim: deb822 sources with security updates, no docs, no apt lists, no services.
  fs.rmSync(path.join(tmp, 'etc/apt/sources.list'), { force: true })
  fs.writeFileSync(
    path.join(tmp, 'etc/apt/sources.list.d/debian.sources'),
    `Types: deb\nURIs: ${MIRROR}\nSuites: ${suite} ${suite}-updates\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\n` +
      `Types: deb\nURIs: ${MIRROR.replace(/\/debian\/?$/, '/debian-security')}\nSuites: ${suite}-security\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n`,
  )
  fs.writeFileSync(
    path.join(tmp, 'etc/dpkg/dpkg.cfg.d/docker'),
    ['doc/*', 'groff/*', 'info/*', 'linda/*', 'lintian/*', 'locale/*', 'man/*'].map((p) => `path-exclude /usr/share/${p}\n`).join('') + 'path-include /usr/share/doc/*/copyright\n',
  )
  fs.writeFileSync(path.join(tmp, 'usr/sbin/policy-rc.d'), '#!/bin/sh\nexit 101\n', { mode: 0o755 })
  for (const entry of fs.readdirSync(path.join(tmp, 'var/lib/apt/lists'))) if (entry !== 'partial' && entry !== 'lock') fs.rmSync(path.join(tmp, 'var/lib/apt/lists', entry), { recursive: true, force: true })
  // Node as the official image lays it out: /usr/local/bin/node, /usr/local/include/node, npm beside it.
  const downloads = path.join(CACHE, 'downloads')
  const nodeTgz = await npmPack(`node-${platformArch()}@${nodeVersion}`, downloads)
  const unpack = path.join(tmp, 'tmp/node-package')
  fs.mkdirSync(unpack, { recursive: true })
  await must('tar', ['-xzf', nodeTgz, '-C', unpack])
  const pkg = path.join(unpack, 'package')
  fs.mkdirSync(path.join(tmp, 'usr/local/bin'), { recursive: true })
  fs.copyFileSync(path.join(pkg, 'bin/node'), path.join(tmp, 'usr/local/bin/node'))
  fs.chmodSync(path.join(tmp, 'usr/local/bin/node'), 0o755)
  await must('cp', ['-a', path.join(pkg, 'include'), path.join(tmp, 'usr/local/')])
  if (fs.existsSync(path.join(pkg, 'share'))) await must('cp', ['-a', path.join(pkg, 'share'), path.join(tmp, 'usr/local/')])
  const npmVersion = process.env.DOCKER_CHECK_NPM ?? bundledNpm(fs.readFileSync(path.join(pkg, 'CHANGELOG.md'), 'utf8'), nodeVersion)
  const npmTgz = await npmPack(`npm@${npmVersion}`, downloads)
  const npmDir = path.join(tmp, 'usr/local/lib/node_modules/npm')
  fs.mkdirSync(npmDir, { recursive: true })
  await must('tar', ['-xzf', npmTgz, '-C', npmDir, '--strip-components=1'])
  fs.symlinkSync('../lib/node_modules/npm/bin/npm-cli.js', path.join(tmp, 'usr/local/bin/npm'))
  fs.symlinkSync('../lib/node_modules/npm/bin/npx-cli.js', path.join(tmp, 'usr/local/bin/npx'))
  fs.rmSync(unpack, { recursive: true, force: true })
  const env0 = { PATH: DEFAULT_PATH, HOME: '/root' }
  await must('chroot', [tmp, '/bin/sh', '-c', 'groupadd --gid 1000 node && useradd --uid 1000 --gid node --shell /bin/bash --create-home node'], { env: env0 })
  const versions = output('chroot', [tmp, '/bin/sh', '-c', 'node --version && npm --version'], { env: env0 }).split('\n')
  if (versions[0] !== `v${nodeVersion}`) fail(`the base's node says ${versions[0]}, not v${nodeVersion}`)
  say(`base ${image}: node ${versions[0]}, npm ${versions[1]}, user node (1000:1000)`)
  fs.writeFileSync(path.join(tmp, '.ready'), recipe)
  fs.rmSync(root, { recursive: true, force: true })
  fs.renameSync(tmp, root)
  return { suite, nodeVersion, root, env }
}

// ---------------------------------------------------------------- stages

interface Stage {
  index: number
  name?: string
  root: string
  upper: string
  lowers: string[]
  env: Map<string, string>
  args: Map<string, string>
  workdir: string
  user: string
  cmd?: string[]
  entrypoint?: string[]
  volumes: string[]
  exposed: string[]
  healthcheck?: { cmd: string[]; intervalMs: number; timeoutMs: number; startPeriodMs: number; retries: number } | 'none'
}

function mount(argv: string[], target: string): void {
  output('mount', [...argv, target])
  mounts.push(target)
}

function prepareRoot(stage: Stage, work: string): void {
  const overlayWork = path.join(work, `stage${stage.index}-ovlwork`)
  fs.mkdirSync(stage.upper, { recursive: true })
  fs.mkdirSync(overlayWork, { recursive: true })
  fs.mkdirSync(stage.root, { recursive: true })
  const overlay = spawnSync('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${stage.lowers.join(':')},upperdir=${stage.upper},workdir=${overlayWork}`, stage.root], { encoding: 'utf8' })
  if (overlay.status === 0) mounts.push(stage.root)
  else {
    say(`overlayfs unavailable (${overlay.stderr.trim()}): copying the base instead`)
    output('cp', ['-a', `${stage.lowers.at(-1)}/.`, stage.root])
  }
  // What a container gets: /proc, a minimal /dev, the host's resolver, localhost.
  mount(['-t', 'proc', 'proc'], path.join(stage.root, 'proc'))
  mount(['-t', 'tmpfs', '-o', 'mode=755,nosuid', 'tmpfs'], path.join(stage.root, 'dev'))
  const dev = path.join(stage.root, 'dev')
  for (const [name, major, minor] of [['null', 1, 3], ['zero', 1, 5], ['full', 1, 7], ['random', 1, 8], ['urandom', 1, 9], ['tty', 5, 0]] as const) {
    output('mknod', ['-m', '666', path.join(dev, name), 'c', String(major), String(minor)])
  }
  for (const dir of ['pts', 'shm']) fs.mkdirSync(path.join(dev, dir))
  fs.chmodSync(path.join(dev, 'shm'), 0o1777)
  mount(['-t', 'devpts', '-o', 'newinstance,ptmxmode=0666,mode=0620,gid=5', 'devpts'], path.join(dev, 'pts'))
  fs.symlinkSync('pts/ptmx', path.join(dev, 'ptmx'))
  fs.symlinkSync('/proc/self/fd', path.join(dev, 'fd'))
  for (const [i, name] of ['stdin', 'stdout', 'stderr'].entries()) fs.symlinkSync(`/proc/self/fd/${i}`, path.join(dev, name))
  fs.rmSync(path.join(stage.root, 'etc/resolv.conf'), { force: true })
  fs.copyFileSync('/etc/resolv.conf', path.join(stage.root, 'etc/resolv.conf'))
  fs.writeFileSync(path.join(stage.root, 'etc/hosts'), '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n')
  // The build machine's registry trust (a TLS-inspecting proxy's CA, say) reaches RUN steps the way
  // a build secret would: in a tmpfs under /run, named by NODE_EXTRA_CA_CERTS, not in the image.
  if (buildCa) {
    const dir = path.join(stage.root, 'run/docker-check')
    fs.mkdirSync(dir, { recursive: true })
    mount(['-t', 'tmpfs', '-o', 'mode=755,size=16m', 'tmpfs'], dir)
    fs.copyFileSync(buildCa, path.join(dir, 'ca.crt'))
  }
  // apt's downloads are kept across runs (a container's are not, but nothing in a RUN can tell).
  const archives = path.join(CACHE, `apt-archives-${path.basename(stage.lowers.at(-1)!)}`)
  fs.mkdirSync(path.join(archives, 'partial'), { recursive: true })
  mount(['--bind', archives], path.join(stage.root, 'var/cache/apt/archives'))
}

/** The CA file the host's npm trusts (npm's cafile, or NODE_EXTRA_CA_CERTS), if any. */
const buildCa = (() => {
  const fromNpm = spawnSync('npm', ['config', 'get', 'cafile'], { encoding: 'utf8' }).stdout?.trim()
  const candidate = fromNpm && fromNpm !== 'null' && fromNpm !== 'undefined' ? fromNpm : process.env.NODE_EXTRA_CA_CERTS
  return candidate && fs.existsSync(candidate) ? candidate : undefined
})()

/** Proxy settings of the build machine, passed to RUN steps as Docker passes its proxy build args. */
const buildProxyEnv = (): Record<string, string> =>
  Object.fromEntries(
    ['HTTP_PROXY', 'HTTPS_PROXY', 'NO_PROXY', 'http_proxy', 'https_proxy', 'no_proxy', 'ALL_PROXY', 'all_proxy'].flatMap((k) => (process.env[k] ? [[k, process.env[k]!]] : [])),
  )

function runEnv(stage: Stage, who: Identity): NodeJS.ProcessEnv {
  return { HOSTNAME: 'homeroom-check', HOME: who.home, ...Object.fromEntries(stage.env) }
}

/** A path inside a root, refusing one that symlinks out of it. */
function inside(root: string, target: string): string {
  const full = path.join(root, target)
  let existing = full
  while (!fs.existsSync(existing)) existing = path.dirname(existing)
  const real = fs.realpathSync(existing)
  if (real !== root && !real.startsWith(root + '/')) fail(`${target} leads out of the image (${real})`)
  return full
}

function copyTree(from: string, to: string, owner: { uid: number; gid: number }, chmod: number | undefined, skip: (relative: string) => boolean, relative: string): number {
  const stat = fs.lstatSync(from)
  if (skip(relative)) return 0
  if (stat.isSymbolicLink()) {
    fs.rmSync(to, { force: true })
    fs.symlinkSync(fs.readlinkSync(from), to)
    fs.lchownSync(to, owner.uid, owner.gid)
    return 1
  }
  if (stat.isDirectory()) {
    if (!fs.existsSync(to)) fs.mkdirSync(to)
    fs.chmodSync(to, chmod ?? stat.mode & 0o7777)
    fs.chownSync(to, owner.uid, owner.gid)
    let count = 0
    for (const entry of fs.readdirSync(from)) count += copyTree(path.join(from, entry), path.join(to, entry), owner, chmod, skip, relative ? `${relative}/${entry}` : entry)
    return count
  }
  fs.copyFileSync(from, to)
  fs.chmodSync(to, chmod ?? stat.mode & 0o7777)
  fs.chownSync(to, owner.uid, owner.gid)
  fs.utimesSync(to, stat.atime, stat.mtime)
  return 1
}

function copyStep(stage: Stage, stages: Stage[], rest: string, ignoreRules: IgnoreRule[]): void {
  const parsed = flags(rest)
  const list = execForm(parsed.rest) ?? words(parsed.rest)
  if (list.length < 2) fail('COPY needs a source and a destination')
  for (const flag of parsed.flags.keys()) if (!['from', 'chown', 'chmod', 'link'].includes(flag)) fail(`COPY --${flag} is not supported by docker-check`)
  const items = list.map((item) => substitute(item, new Map([...stage.args, ...stage.env])))
  const destRaw = items.pop()!
  let sourceRoot = contextDir
  let skip = (relative: string) => ignored(ignoreRules, relative)
  const from = parsed.flags.get('from')
  if (from) {
    const source = stages.find((s) => s.name === from.toLowerCase() || String(s.index) === from)
    if (!source) fail(`COPY --from=${from}: no earlier stage of that name (images are not supported)`)
    sourceRoot = source!.root
    skip = () => false
  }
  const chownSpec = parsed.flags.get('chown')
  const owner = chownSpec ? identity(stage.root, chownSpec) : { uid: 0, gid: 0 }
  const chmod = parsed.flags.has('chmod') ? Number.parseInt(parsed.flags.get('chmod')!, 8) : undefined
  const dest = path.posix.isAbsolute(destRaw) ? destRaw : path.posix.join(stage.workdir, destRaw)
  const sources: string[] = []
  for (const item of items) {
    const relative = path.posix.normalize(item.replace(/^\/+/, ''))
    if (relative.startsWith('..')) fail(`COPY ${item}: outside the build context`)
    const matches = /[*?[]/.test(relative) ? fs.globSync(relative, { cwd: sourceRoot }).filter((m) => !skip(m)) : [relative]
    for (const match of matches) {
      const full = path.join(sourceRoot, match)
      if (!fs.existsSync(full) || (from === undefined && skip(match) && match !== '.')) fail(`COPY ${item}: not found in the ${from ? `stage ${from}` : 'build context'}`)
      sources.push(match)
    }
  }
  if (!sources.length) fail(`COPY ${items.join(' ')}: no source files were specified`)
  const intoDir = destRaw.endsWith('/') || sources.length > 1
  let count = 0
  for (const source of sources) {
    const full = path.join(sourceRoot, source)
    const isDir = fs.statSync(full).isDirectory()
    const target = isDir ? dest : intoDir ? path.posix.join(dest, path.posix.basename(source)) : dest
    const targetParent = isDir ? target : path.posix.dirname(target)
    const hostParent = inside(stage.root, targetParent)
    if (!fs.existsSync(hostParent)) fs.mkdirSync(hostParent, { recursive: true })
    const hostTarget = inside(stage.root, target)
    if (isDir) {
      for (const entry of fs.readdirSync(full)) {
        const rel = source === '.' ? entry : `${source}/${entry}`
        count += copyTree(path.join(full, entry), path.join(hostTarget, entry), owner, chmod, from ? () => false : skip, rel)
      }
    } else count += copyTree(full, hostTarget, owner, chmod, () => false, source)
  }
  say(`  copied ${count} files`)
}

// ---------------------------------------------------------------- the check

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) fail('run as root (chroot, mount and debootstrap need it)')
  for (const tool of ['chroot', 'mount', 'unshare', 'nsenter', 'npm', 'tar']) if (!have(tool)) fail(`${tool} is missing`)
  if (!have('ip')) {
    say('installing iproute2 (ip) from Debian packages')
    await must('apt-get', ['install', '-y', '-qq', 'iproute2'], { env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } })
  }
  fs.mkdirSync(CACHE, { recursive: true })
  // Work folders a killed run left behind, where nothing is mounted any more.
  const mountpoints = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((line) => line.split(' ')[4] ?? '')
  for (const entry of fs.readdirSync(CACHE)) {
    const dir = path.join(CACHE, entry)
    const builder = /\.tmp-(\d+)$/.exec(entry)?.[1]
    if (builder && fs.existsSync(`/proc/${builder}`)) continue // another check is making a base there
    if ((builder || entry.startsWith('run-')) && !mountpoints.some((m) => m === dir || m.startsWith(dir + '/'))) spawnSync('rm', ['-rf', '--one-file-system', dir], { stdio: 'ignore' })
  }
  const work = fs.mkdtempSync(path.join(CACHE, 'run-'))
  workDirs.push(work)
  // The stages' layers live in memory: writing them is faster, and so is throwing them away.
  if (!keep && spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=6g,mode=700', 'tmpfs', work]).status === 0) mounts.push(work)
  say(`Dockerfile ${dockerfilePath}, context ${contextDir}, work in ${work}, limit ${LIMIT_S}s`)
  const instructions = parseDockerfile(fs.readFileSync(dockerfilePath, 'utf8'))
  const ignoreRules = readDockerignore(contextDir)
  const globalArgs = new Map<string, string>()
  const stages: Stage[] = []
  let stage: Stage | undefined
  for (const { line, keyword, rest } of instructions) {
    const where = `Dockerfile:${line} ${keyword}`
    say(`${where} ${rest.length > 100 ? rest.slice(0, 100) + '…' : rest}`)
    try {
      if (keyword === 'FROM') {
        const parsed = flags(rest)
        if (parsed.flags.size) fail(`FROM --${[...parsed.flags.keys()][0]} is not supported by docker-check`)
        const [imageRaw, as, name] = words(parsed.rest)
        if (as !== undefined && (as.toUpperCase() !== 'AS' || !name)) fail('FROM takes an image and optionally AS name')
        const image = substitute(imageRaw, globalArgs)
        const previous = stages.find((s) => s.name === image.toLowerCase())
        const index = stages.length
        let lowers: string[]
        let env: Map<string, string>
        let inherit: Partial<Stage> = {}
        if (previous) {
          lowers = [previous.upper, ...previous.lowers]
          env = new Map(previous.env)
          inherit = { workdir: previous.workdir, user: previous.user, cmd: previous.cmd, entrypoint: previous.entrypoint, volumes: [...previous.volumes], exposed: [...previous.exposed], healthcheck: previous.healthcheck }
        } else {
          const base = await baseImage(image)
          lowers = [base.root]
          env = new Map(base.env)
        }
        stage = {
          index,
          name: name?.toLowerCase(),
          root: path.join(work, `stage${index}`),
          upper: path.join(work, `stage${index}-upper`),
          lowers,
          env,
          args: new Map(),
          workdir: '/',
          user: 'root',
          cmd: ['node'],
          volumes: [],
          exposed: [],
          ...inherit,
        }
        prepareRoot(stage, work)
        stages.push(stage)
        continue
      }
      if (keyword === 'ARG') {
        for (const word of words(rest)) {
          const [key, ...value] = word.split('=')
          const target = stage ? stage.args : globalArgs
          const fallback = stage ? globalArgs.get(key) : undefined
          target.set(key, value.length ? substitute(value.join('='), new Map([...globalArgs, ...(stage?.env ?? [])])) : (fallback ?? ''))
        }
        continue
      }
      if (!stage) fail('the first instruction must be FROM (or ARG)')
      const s = stage!
      const vars = new Map([...s.args, ...s.env])
      switch (keyword) {
        case 'ENV': {
          const list = words(rest)
          if (list.length && !list[0].includes('=')) {
            const [key] = list
            s.env.set(key, substitute(rest.slice(rest.indexOf(key) + key.length).trim(), vars))
          } else {
            for (const word of list) {
              const at = word.indexOf('=')
              if (at < 1) fail(`ENV ${word}: expected NAME=value`)
              s.env.set(word.slice(0, at), substitute(word.slice(at + 1), new Map([...s.args, ...s.env])))
            }
          }
          break
        }
        case 'WORKDIR': {
          const dir = substitute(rest, vars)
          s.workdir = path.posix.isAbsolute(dir) ? path.posix.normalize(dir) : path.posix.join(s.workdir, dir)
          fs.mkdirSync(inside(s.root, s.workdir), { recursive: true })
          break
        }
        case 'USER':
          s.user = substitute(rest, vars)
          break
        case 'COPY':
          copyStep(s, stages, rest, ignoreRules)
          break
        case 'RUN': {
          const parsed = flags(rest)
          if (parsed.flags.size) fail(`RUN --${[...parsed.flags.keys()][0]} is not supported by docker-check`)
          const who = identity(s.root, s.user)
          const exec = execForm(parsed.rest)
          const argv = exec ?? ['/bin/sh', '-c', parsed.rest]
          const env = { ...buildProxyEnv(), ...(buildCa ? { NODE_EXTRA_CA_CERTS: '/run/docker-check/ca.crt' } : {}), ...runEnv(s, who), ...Object.fromEntries(s.args) }
          const status = await run('chroot', [...chrootArgs(s.root, who, s.workdir), ...argv], { env, label: `  [stage ${s.name ?? s.index} RUN] ` })
          if (status !== 0) fail(`the command returned a non-zero code: ${status}`)
          break
        }
        case 'CMD':
          s.cmd = execForm(rest) ?? ['/bin/sh', '-c', rest]
          break
        case 'ENTRYPOINT':
          s.entrypoint = execForm(rest) ?? ['/bin/sh', '-c', rest]
          break
        case 'VOLUME':
          s.volumes.push(...(execForm(rest) ?? words(rest)).map((v) => substitute(v, vars)))
          break
        case 'EXPOSE':
          s.exposed.push(...words(substitute(rest, vars)))
          break
        case 'HEALTHCHECK': {
          const parsed = flags(rest)
          if (/^NONE$/i.test(parsed.rest)) {
            s.healthcheck = 'none'
            break
          }
          const cmdMatch = /^CMD\s+(.*)$/is.exec(parsed.rest)
          if (!cmdMatch) fail('HEALTHCHECK needs CMD or NONE')
          const body = cmdMatch![1].trim()
          s.healthcheck = {
            cmd: execForm(body) ?? ['/bin/sh', '-c', body],
            intervalMs: durationMs(parsed.flags.get('interval'), 30_000),
            timeoutMs: durationMs(parsed.flags.get('timeout'), 30_000),
            startPeriodMs: durationMs(parsed.flags.get('start-period'), 0),
            retries: Number(parsed.flags.get('retries') ?? 3),
          }
          break
        }
        case 'LABEL':
        case 'STOPSIGNAL':
        case 'MAINTAINER':
          break
        default:
          fail(`${keyword} is not supported by docker-check`)
      }
    } catch (error) {
      if (error instanceof CheckError) fail(`${where}: ${error.message}`)
      throw error
    }
  }
  if (!stage) fail('the Dockerfile has no FROM')
  await runImage(stage!, work)
}

async function runImage(image: Stage, work: string): Promise<void> {
  say(`image built (${image.index + 1} stage${image.index ? 's' : ''}); running it as docker run would`)
  const who = identity(image.root, image.user)
  if (who.uid === 0) fail(`the image runs as root (USER ${image.user}): it must run as an unprivileged user`)
  if (!image.exposed.some((port) => port.replace(/\/tcp$/, '') === (image.env.get('PORT') ?? '8400'))) fail(`EXPOSE ${image.exposed.join(' ')} does not include PORT ${image.env.get('PORT')}`)
  if (image.env.get('DATA_DIR') !== '/data' || !image.volumes.includes('/data')) fail('the image must keep its data in the volume /data (DATA_DIR=/data, VOLUME /data)')
  // Each VOLUME gets a fresh volume, filled from the image as Docker fills a new named volume.
  for (const [i, volume] of image.volumes.entries()) {
    const inImage = inside(image.root, volume)
    fs.mkdirSync(inImage, { recursive: true })
    const host = path.join(work, `volume${i}`)
    fs.mkdirSync(host)
    const stat = fs.statSync(inImage)
    output('cp', ['-a', `${inImage}/.`, host])
    fs.chownSync(host, stat.uid, stat.gid)
    fs.chmodSync(host, stat.mode & 0o7777)
    mount(['--bind', host], inImage)
  }
  const command = [...(image.entrypoint ?? []), ...(image.entrypoint && image.entrypoint[0] === '/bin/sh' ? [] : (image.cmd ?? []))]
  const env = runEnv(image, who)
  say(`starting ${JSON.stringify(command)} as ${who.name} (${who.uid}:${who.gid}) in ${image.workdir}, in a network namespace of its own`)
  // The container's network: a namespace with only loopback, so port 8400 is its own.
  const server = spawn('unshare', ['--net', '--fork', '--kill-child', '--', '/bin/sh', '-c', 'ip link set lo up || exit 97; exec chroot "$@"', 'sh', ...chrootArgs(image.root, who, image.workdir), ...command], {
    env,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  groups.add(server.pid!)
  let exited: number | null | undefined
  const log: string[] = []
  for (const stream of [server.stdout, server.stderr]) {
    stream.on('data', (chunk: Buffer) => {
      for (const line of chunk.toString().split('\n').filter(Boolean)) {
        log.push(line)
        process.stdout.write(`  [server] ${line.length > 300 ? line.slice(0, 300) + '…' : line}\n`)
      }
    })
  }
  const exitedPromise = new Promise<number>((resolve) => server.on('exit', (code, signal) => resolve((exited = code ?? (signal ? 128 : 1)))))
  const inContainer = (argv: string[], timeoutMs: number) =>
    run('nsenter', [`--net=/proc/${server.pid}/ns/net`, '--', 'chroot', ...chrootArgs(image.root, who, image.workdir), ...argv], { env, timeoutMs, label: '  [probe] ' })

  // Wait for the HEALTHCHECK the way Docker's start period does, probing every second.
  const health = image.healthcheck
  if (health === 'none' || !health) fail('the image has no HEALTHCHECK')
  const hc = health as Exclude<typeof health, 'none' | undefined>
  const waitUntil = Date.now() + Math.min(hc.startPeriodMs + hc.retries * hc.intervalMs + 30_000, 120_000, remainingMs() - 15_000)
  let healthy = false
  let tries = 0
  while (Date.now() < waitUntil && exited === undefined) {
    await new Promise((r) => setTimeout(r, 1000))
    if (exited !== undefined) break
    tries++
    if ((await inContainer(hc.cmd, hc.timeoutMs)) === 0) {
      healthy = true
      break
    }
  }
  if (exited !== undefined) fail(`the server exited with ${exited} before it was healthy`)
  if (!healthy) fail(`the HEALTHCHECK did not pass within ${Math.round((waitUntil - started) / 1000)}s of the check (${tries} tries)`)
  say(`HEALTHCHECK passed after ${tries} tr${tries === 1 ? 'y' : 'ies'}`)

  // Ask for readiness ourselves: GET /readyz must answer 200.
  const port = image.env.get('PORT') ?? '8400'
  const probe = `fetch('http://127.0.0.1:${port}/readyz',{signal:AbortSignal.timeout(3000)}).then(async r=>{console.log('GET /readyz -> '+r.status+' '+(await r.text()).slice(0,200));process.exit(r.status===200?0:1)},e=>{console.log(String(e));process.exit(1)})`
  if ((await inContainer(['node', '-e', probe], 10_000)) !== 0) fail('GET /readyz did not answer 200')

  // The server must run as the image's user, and the data volume must be its to write.
  const inGroup = fs
    .readdirSync('/proc')
    .filter((pid) => /^\d+$/.test(pid) && Number(pid) !== server.pid)
    .filter((pid) => {
      try {
        return fs.readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '').split(' ')[2] === String(server.pid)
      } catch {
        return false
      }
    })
  const uids = inGroup
    .map((pid) => {
      try {
        return Number(/^Uid:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1])
      } catch {
        return NaN
      }
    })
    .filter((uid) => !Number.isNaN(uid))
  if (!uids.length || uids.some((uid) => uid !== who.uid)) fail(`the server's processes run as uids ${uids.join(',')}, not ${who.uid}`)
  const dataFiles = fs.readdirSync(inside(image.root, '/data'))
  say(`server runs as uid ${who.uid}; /data holds ${dataFiles.join(', ') || 'nothing yet'}`)
  for (const file of dataFiles) {
    const st = fs.statSync(path.join(inside(image.root, '/data'), file))
    if (st.uid !== who.uid) fail(`/data/${file} is owned by uid ${st.uid}, not the server's ${who.uid}`)
  }

  // docker stop: SIGTERM, then SIGKILL after 10 s.
  say('stopping the server (SIGTERM)')
  try {
    process.kill(-server.pid!, 'SIGTERM')
  } catch {}
  const code = await Promise.race([exitedPromise, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 10_000))])
  if (code === 'timeout') {
    process.kill(-server.pid!, 'SIGKILL')
    fail('the server did not stop within 10 s of SIGTERM')
  }
  groups.delete(server.pid!)
  if (code !== 0 && code !== 143) fail(`the server exited with ${code} on SIGTERM`)
  say(`server stopped (exit ${code})`)
}

try {
  await main()
  clearTimeout(watchdog)
  cleanup()
  say('OK: the Dockerfile builds, and its image starts, is healthy and serves as an unprivileged user')
  process.exit(0)
} catch (error) {
  clearTimeout(watchdog)
  process.stderr.write(`docker-check: FAILED after ${elapsed()}: ${error instanceof CheckError ? error.message : (error as Error).stack}\n`)
  cleanup()
  process.exit(1)
}
