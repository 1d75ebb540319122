// A front-end app outside the repository that installs `@homeroom/client` from its tarball next to
// its own Yjs, React and Tiptap, the way an app team would, and bundles pages with esbuild without
// aliases: what the package promises is tested as its users get it. Pages are served to Chromium
// from memory by a small HTTP server.
import { execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { build } from 'esbuild'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { packClient } from '../../scripts/pack-client.ts'

/** The app's own dependencies, pinned (Tiptap's caret extension is on 3.31.3; the rest of @tiptap/* matches it). */
export const APP_DEPENDENCIES: Record<string, string> = {
  yjs: '13.6.33',
  '@hocuspocus/provider': '4.7.0',
  'y-protocols': '1.0.7',
  'y-indexeddb': '9.0.12',
  react: '19.3.1',
  'react-dom': '19.3.1',
  '@tiptap/core': '3.31.3',
  '@tiptap/pm': '3.31.3',
  '@tiptap/starter-kit': '3.31.3',
  '@tiptap/extension-collaboration': '3.31.3',
  '@tiptap/extension-collaboration-caret': '3.31.3',
  '@tiptap/y-tiptap': '3.0.9',
}


const npm = (cwd: string, args: string[]) => execFileSync('npm', [...args, '--no-audit', '--no-fund', '--loglevel=error'], { cwd, stdio: ['ignore', 'ignore', 'inherit'] })

const APP_DIR = join(tmpdir(), `homeroom-client-app-${createHash('sha256').update(JSON.stringify(APP_DEPENDENCIES)).digest('hex').slice(0, 12)}`)
const LOCK = `${APP_DIR}.lock`

/** Test files run in parallel and share the app: one at a time installs into it and reads it. */
async function locked<T>(work: () => Promise<T>): Promise<T> {
  for (;;) {
    try {
      mkdirSync(LOCK)
      break
    } catch {
      // Held by another test process; taken over when that process is gone.
      const owner = Number(readFileSync(join(LOCK, 'pid'), { encoding: 'utf8', flag: 'a+' }) || 0)
      if (owner && !alive(owner)) rmSync(LOCK, { recursive: true, force: true })
      else await new Promise((resolve) => setTimeout(resolve, 200))
    }
  }
  writeFileSync(join(LOCK, 'pid'), String(process.pid))
  try {
    return await work()
  } finally {
    rmSync(LOCK, { recursive: true, force: true })
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** The files the package is built from: one hash of them names what is installed in the app. */
function packageInputsHash(): string {
  const hash = createHash('sha256')
  const files = (dir: string): string[] =>
    readdirSync(dir, { withFileTypes: true }).flatMap((entry) => (entry.isDirectory() ? files(join(dir, entry.name)) : [join(dir, entry.name)]))
  const root = join(import.meta.dirname, '..', '..')
  for (const file of [...files(join(root, 'docs-model')).sort(), ...['server/playground/client-package.ts', 'scripts/pack-client.ts', 'package.json', 'package-lock.json', 'tsconfig.json'].map((f) => join(root, f))]) {
    hash.update(file).update(readFileSync(file))
  }
  return hash.digest('hex').slice(0, 16)
}

/**
 * Packs the client, installs the tarball into the scratch app and runs `use` on the app's
 * directory while no other test process changes it (bundle pages, read the installed files
 * there). The app's third-party packages stay installed between runs (the directory is named by
 * their versions), and the tarball is packed and installed again only when the files it is built
 * from changed: four test files use the app, and packing (tsc emitting declarations) dominated them.
 */
export async function withApp<T>(use: (dir: string) => Promise<T>): Promise<T> {
  return locked(async () => {
    const installed = join(APP_DIR, 'node_modules', '.homeroom-app-installed')
    if (!existsSync(installed)) {
      rmSync(APP_DIR, { recursive: true, force: true })
      mkdirSync(APP_DIR, { recursive: true })
      writeFileSync(join(APP_DIR, 'package.json'), JSON.stringify({ name: 'scratch-app', private: true, type: 'module', dependencies: APP_DEPENDENCIES }, null, 2))
      npm(APP_DIR, ['install'])
      writeFileSync(installed, '')
    }
    const client = join(APP_DIR, 'node_modules', '.homeroom-client-installed')
    const inputs = packageInputsHash()
    if (!existsSync(client) || readFileSync(client, 'utf8') !== inputs) {
      const packed = mkdtempSync(join(tmpdir(), 'homeroom-tarball-'))
      try {
        const tarball = await packClient(packed)
        // Same version, new contents: npm would keep the copy it has.
        rmSync(join(APP_DIR, 'node_modules', '@homeroom'), { recursive: true, force: true })
        npm(APP_DIR, ['install', '--no-save', tarball])
        writeFileSync(client, inputs)
      } finally {
        rmSync(packed, { recursive: true, force: true })
      }
    }
    return use(APP_DIR)
  })
}

/** Installs the package and bundles each page (name → source); returns name → JavaScript. */
export const bundlePages = (pages: Record<string, string>): Promise<Record<string, string>> =>
  withApp(async (dir) => Object.fromEntries(await Promise.all(Object.entries(pages).map(async ([name, source]) => [name, await bundlePage(dir, name, source)]))))

/** Bundles a page's script (TSX allowed) with the app's own node_modules; returns the JavaScript. */
export async function bundlePage(appDir: string, name: string, source: string): Promise<string> {
  const file = join(appDir, `${name}.tsx`)
  writeFileSync(file, source)
  const result = await build({
    absWorkingDir: appDir,
    entryPoints: [file],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    jsx: 'automatic',
    define: { 'process.env.NODE_ENV': '"development"' },
    write: false,
    logLevel: 'silent',
  })
  return result.outputFiles[0].text
}

export interface AppServer {
  /** `http://127.0.0.1:<port>`: a loopback origin, so the pages may reach the server under Chromium's local network access rules. */
  origin: string
  close(): Promise<void>
}

/** Serves `/<name>.html` (loading `/<name>.js`) for each bundled page, on an ephemeral loopback port. */
export async function servePages(pages: Record<string, string>): Promise<AppServer> {
  const server = createServer((request, response) => {
    const [name, ext] = new URL(request.url ?? '/', 'http://x').pathname.slice(1).split('.')
    if (ext === 'js' && pages[name] !== undefined) return response.writeHead(200, { 'Content-Type': 'text/javascript' }).end(pages[name])
    if (ext === 'html' && pages[name] !== undefined) {
      return response.writeHead(200, { 'Content-Type': 'text/html' }).end(`<!doctype html><meta charset="utf-8"><div id="root"></div><script type="module" src="/${name}.js"></script>`)
    }
    // No favicon: an empty answer rather than a 404 in the console.
    response.writeHead(request.url === '/favicon.ico' ? 204 : 404).end()
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return { origin: `http://127.0.0.1:${port}`, close: () => new Promise((resolve) => server.close(() => resolve())) }
}
