// How `@homeroom/client` is bundled: the model's client code as ES modules, one per entry, with
// Yjs and the libraries that must exist once per page left to the app (peer dependencies) and
// the small libraries it uses left to the app's installer (dependencies). Used by
// `npm run pack:client` (scripts/pack-client.ts) and by the playground build, which is bundled
// from the same output.
import { build, type OutputFile, type Plugin } from 'esbuild'
import { fileURLToPath } from 'node:url'

export const repoRoot = fileURLToPath(new URL('../..', import.meta.url))

/** Entry point of each export (`@homeroom/client`, `@homeroom/client/react`) → its source. */
export const PACKAGE_ENTRIES = { index: 'docs-model/client/index.ts', react: 'docs-model/client/react.ts' } as const

/** Shared with the app: two copies of Yjs (or of React) on a page break it. `react` is optional. */
export const PEERS = ['yjs', '@hocuspocus/provider', 'y-protocols', 'y-indexeddb', 'react'] as const
export const OPTIONAL_PEERS = ['react'] as const
/** Installed with the package, bundled by the app. */
export const DEPENDENCIES = ['zod', 'jose', 'lib0'] as const

// The React entry uses the main entry's classes, not a copy of them: `./index.ts` stays an import.
const mainEntryExternal: Plugin = {
  name: 'main-entry-external',
  setup(b) {
    b.onResolve({ filter: /^\.\/index\.ts$/ }, (args) => (args.importer.endsWith('/client/react.ts') ? { path: './index.js', external: true } : undefined))
  },
}

/** `index.js`, `react.js` (and their `.map` files when `sourcemap`), as esbuild writes them under `outdir`. */
export async function bundlePackage(options: { outdir: string; sourcemap: boolean; write: boolean }): Promise<OutputFile[]> {
  const result = await build({
    absWorkingDir: repoRoot,
    entryPoints: PACKAGE_ENTRIES,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    external: [...PEERS, ...DEPENDENCIES].flatMap((name) => [name, `${name}/*`]),
    plugins: [mainEntryExternal],
    sourcemap: options.sourcemap,
    sourcesContent: true,
    outdir: options.outdir,
    write: options.write,
    logLevel: 'silent',
  })
  return result.outputFiles ?? []
}
