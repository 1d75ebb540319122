// Bundles the playground page (`playground.js`) with esbuild, from the `@homeroom/client` package
// as `npm run pack:client` builds it (server/playground/client-package.ts): the page imports
// `@homeroom/client` like any app, and the package's peers (Yjs, the provider) resolve once from
// node_modules. The server builds in memory on the first playground request, so `npm start` needs
// no build step; `node server/playground/build.ts <dir>` writes the same files to a directory.
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { build, type Plugin } from 'esbuild'
import { bundlePackage, repoRoot } from './client-package.ts'

/** File name → contents. */
export type ClientBundle = Map<string, Uint8Array>

/** Resolves `@homeroom/client` (and `/react`) to the package's built entries instead of the sources. */
function fromPackage(entries: Map<string, string>): Plugin {
  return {
    name: 'homeroom-client-package',
    setup(b) {
      b.onResolve({ filter: /^@homeroom\/client(\/react)?$/ }, (args) => ({ path: args.path.endsWith('/react') ? 'react.js' : 'index.js', namespace: 'homeroom-client' }))
      b.onResolve({ filter: /^\.\/index\.js$/, namespace: 'homeroom-client' }, () => ({ path: 'index.js', namespace: 'homeroom-client' }))
      b.onLoad({ filter: /.*/, namespace: 'homeroom-client' }, (args) => ({ contents: entries.get(args.path), loader: 'js', resolveDir: repoRoot }))
    },
  }
}

export async function buildClient(): Promise<ClientBundle> {
  const packaged = await bundlePackage({ outdir: join(repoRoot, 'bundle'), sourcemap: false, write: false })
  const entries = new Map(packaged.map((file) => [file.path.slice(file.path.lastIndexOf('/') + 1), file.text]))
  const result = await build({
    absWorkingDir: repoRoot,
    entryPoints: { playground: 'server/playground/app.ts' },
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    minify: true,
    sourcemap: false,
    legalComments: 'none',
    define: { 'process.env.NODE_ENV': '"production"' },
    plugins: [fromPackage(entries)],
    outdir: 'bundle',
    write: false,
    logLevel: 'silent',
  })
  return new Map(result.outputFiles.map((file) => [file.path.slice(file.path.lastIndexOf('/') + 1), file.contents]))
}

if (import.meta.main) {
  const outdir = process.argv[2] ?? 'dist/client'
  mkdirSync(outdir, { recursive: true })
  for (const [name, contents] of await buildClient()) {
    writeFileSync(join(outdir, name), contents)
    process.stdout.write(`${join(outdir, name)} (${(contents.byteLength / 1024).toFixed(0)} KiB)\n`)
  }
}
