// `npm run pack:client`: builds `@homeroom/client` from the model's client code and writes
// `homeroom-client-<version>.tgz` at the repository root: ES modules with source maps
// (server/playground/client-package.ts says what is bundled and what is left to the app), `.d.ts`
// types emitted by tsc, and a package.json whose peer dependencies are Yjs and its companions.
import { execFileSync } from 'node:child_process'
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, relative } from 'node:path'
import { bundlePackage, DEPENDENCIES, OPTIONAL_PEERS, PACKAGE_ENTRIES, PEERS, repoRoot } from '../server/playground/client-package.ts'

const root = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string; license: string; dependencies: Record<string, string>; devDependencies: Record<string, string> }

/** The version range of `name` the repository itself is built and tested with. */
function rangeOf(name: string): string {
  const range = root.dependencies[name] ?? root.devDependencies[name]
  if (range) return /^\d/.test(range) ? `^${range}` : range
  const installed = JSON.parse(readFileSync(join(repoRoot, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }
  return `^${installed.version}`
}
/** React's range is the app's choice: the hooks need 18 (useSyncExternalStore) or later. */
const peerRange = (name: string): string => (name === 'react' ? '>=18' : rangeOf(name))

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((entry) => (statSync(join(dir, entry)).isDirectory() ? filesUnder(join(dir, entry)) : [join(dir, entry)]))
}

/** Declarations for the entries and what they reference, imports rewritten to the `.js` the package ships. */
function emitTypes(outDir: string): void {
  const tsconfig = join(outDir, '..', 'tsconfig.json')
  writeFileSync(
    tsconfig,
    JSON.stringify({
      extends: join(repoRoot, 'tsconfig.json'),
      compilerOptions: { noEmit: false, declaration: true, emitDeclarationOnly: true, rootDir: repoRoot, outDir, types: [] },
      include: [],
      files: Object.values(PACKAGE_ENTRIES).map((file) => join(repoRoot, file)),
    }),
  )
  execFileSync(process.execPath, [join(repoRoot, 'node_modules/typescript/bin/tsc'), '-p', tsconfig], { stdio: 'inherit' })
  for (const file of filesUnder(outDir).filter((f) => f.endsWith('.d.ts'))) {
    writeFileSync(file, readFileSync(file, 'utf8').replace(/(from\s+['"]\.{1,2}\/[^'"]*?)\.ts(['"])/g, '$1.js$2'))
  }
}

/** Writes the tarball into `destination` (the repository root unless told); returns its path. */
export async function packClient(destination = repoRoot): Promise<string> {
  const work = mkdtempSync(join(tmpdir(), 'homeroom-pack-'))
  try {
    const pkg = join(work, 'package')
    await bundlePackage({ outdir: join(pkg, 'dist'), sourcemap: true, write: true })
    emitTypes(join(pkg, 'types'))
    const exportOf = (entry: string) => ({
      types: `./types/${PACKAGE_ENTRIES[entry as keyof typeof PACKAGE_ENTRIES].replace(/\.ts$/, '.d.ts')}`,
      import: `./dist/${entry}.js`,
    })
    const manifest = {
      name: '@homeroom/client',
      version: root.version,
      description: "Homeroom's browser client: sessions with offline copies, typed clients of every surface, React hooks",
      license: root.license,
      type: 'module',
      sideEffects: false,
      exports: Object.fromEntries(Object.keys(PACKAGE_ENTRIES).map((entry) => [entry === 'index' ? '.' : `./${entry}`, exportOf(entry)])),
      files: ['dist', 'types', 'README.md', 'LICENSE'],
      dependencies: Object.fromEntries(DEPENDENCIES.map((name) => [name, rangeOf(name)])),
      peerDependencies: Object.fromEntries(PEERS.map((name) => [name, peerRange(name)])),
      peerDependenciesMeta: Object.fromEntries(OPTIONAL_PEERS.map((name) => [name, { optional: true }])),
    }
    writeFileSync(join(pkg, 'package.json'), JSON.stringify(manifest, null, 2) + '\n')
    copyFileSync(join(repoRoot, 'LICENSE'), join(pkg, 'LICENSE'))
    writeFileSync(join(pkg, 'README.md'), "# @homeroom/client\n\nHomeroom's browser client. See docs/browser.md in the Homeroom repository.\n")
    const out = execFileSync('npm', ['pack', '--json', '--pack-destination', destination], { cwd: pkg, encoding: 'utf8' })
    const [{ filename }] = JSON.parse(out) as Array<{ filename: string }>
    return join(destination, filename)
  } finally {
    rmSync(work, { recursive: true, force: true })
  }
}

if (import.meta.main) {
  const tarball = await packClient()
  process.stdout.write(`${relative(process.cwd(), tarball)} (${(statSync(tarball).size / 1024).toFixed(0)} KiB)\n`)
}
