// Bundles the browser code with esbuild: the client helpers as an ES module
// (`homeroom-client.js`, for apps) and the playground page (`playground.js`).
// The server builds in memory on the first playground request, so `npm start` needs no build
// step; `node server/playground/build.ts <dir>` writes the same files to a directory.
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'

const root = fileURLToPath(new URL('../..', import.meta.url))

/** File name → contents. */
export type ClientBundle = Map<string, Uint8Array>

export async function buildClient(): Promise<ClientBundle> {
  const result = await build({
    absWorkingDir: root,
    entryPoints: {
      'homeroom-client': 'docs-model/client/index.ts',
      playground: 'server/playground/app.ts',
    },
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    minify: true,
    sourcemap: false,
    legalComments: 'none',
    define: { 'process.env.NODE_ENV': '"production"' },
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
