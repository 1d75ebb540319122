// What `@homeroom/client` adds to an app's bundle: each entry bundled with esbuild, minified,
// with the peers (Yjs, the provider, y-protocols, y-indexeddb, React) left out and its own
// dependencies (zod, jose, lib0) in, as an app's bundler would; then the share of each package.
// Deterministic (a size, not a timing), so one run is the figure.
//   node scripts/bench/client-size.ts
import { gzipSync } from 'node:zlib'
import { build } from 'esbuild'
import { PACKAGE_ENTRIES, PEERS, repoRoot } from '../../server/playground/client-package.ts'

const kib = (bytes: number) => `${(bytes / 1024).toFixed(1)} KiB`

for (const [entry, source] of Object.entries(PACKAGE_ENTRIES)) {
  const result = await build({
    absWorkingDir: repoRoot,
    entryPoints: [source],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    minify: true,
    metafile: true,
    write: false,
    // The React entry is measured on top of the main one, as the package ships it.
    external: [...PEERS, ...(entry === 'index' ? [] : ['./index.ts'])].flatMap((name) => [name, `${name}/*`]),
    logLevel: 'silent',
  })
  const bytes = result.outputFiles[0].contents
  const shares = new Map<string, number>()
  for (const output of Object.values(result.metafile.outputs)) {
    for (const [input, { bytesInOutput }] of Object.entries(output.inputs)) {
      const owner = /node_modules\/((@[^/]+\/)?[^/]+)/.exec(input)?.[1] ?? 'own code'
      shares.set(owner, (shares.get(owner) ?? 0) + bytesInOutput)
    }
  }
  const parts = [...shares].sort((a, b) => b[1] - a[1]).map(([owner, size]) => `${owner} ${kib(size)}`)
  process.stdout.write(`${entry}: ${kib(bytes.length)} minified, ${kib(gzipSync(bytes).length)} gzipped (${parts.join(', ')})\n`)
}
