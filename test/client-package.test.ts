// `npm run pack:client` makes a package an app can install from its tarball next to its own Yjs:
// ES modules with source maps and types, the shared libraries left to the app, and an app bundle
// (esbuild, no aliases) that carries exactly one Yjs and type-checks against the declarations.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { execFileSync } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { bundlePage, withApp } from './helpers/client-app.ts'
import { PEERS } from '../server/playground/client-package.ts'

/** What the app saw, read while it held the scratch app. */
let seen: { manifest: any; files: Map<string, string>; bundle: string; typecheck: string | null }

const TYPED_APP = `import * as Y from 'yjs'
import { Session, DocClient, ChatClient, type ConnectionState } from '@homeroom/client'
const session = new Session({ url: 'ws://localhost:8400', token: async () => 'token' })
const fragment: Y.XmlFragment = new DocClient(session, 's1/doc/d1').fragment
const state: ConnectionState = session.state()
const text: string = new ChatClient(session, 's1/chat/7a').messages()[0].text
const pending: Uint8Array = session.open('s1/doc/d1').exportPending()
// @ts-expect-error a handle's document is a Y.Doc, not a string
const wrong: string = session.open('s1/doc/d1').doc
export { fragment, state, text, pending, wrong }
`

test.before(async () => {
  seen = await withApp(async (app) => {
    const root = join(app, 'node_modules/@homeroom/client')
    const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'))
    const paths = [manifest.exports['.'].import, manifest.exports['.'].types, manifest.exports['./react'].import, manifest.exports['./react'].types, 'dist/index.js.map']
    const files = new Map(paths.map((path: string) => [path, readFileSync(join(root, path), 'utf8')]))
    const bundle = await bundlePage(app, 'one-yjs', `import * as Y from 'yjs'\nimport { Session, DocClient } from '@homeroom/client'\nconsole.log(Y.Doc, Session, DocClient)\n`)
    writeFileSync(join(app, 'typed.ts'), TYPED_APP)
    writeFileSync(join(app, 'tsconfig.json'), JSON.stringify({ compilerOptions: { strict: true, module: 'ESNext', moduleResolution: 'bundler', target: 'ES2022', lib: ['ES2022', 'DOM'], noEmit: true, skipLibCheck: true, types: [] }, files: ['typed.ts'] }))
    let typecheck: string | null = null
    try {
      execFileSync(process.execPath, [join(process.cwd(), 'node_modules/typescript/bin/tsc'), '-p', app], { encoding: 'utf8' })
    } catch (error) {
      typecheck = (error as { stdout: string }).stdout
    }
    return { manifest, files, bundle, typecheck }
  })
})

test('the package ships ES modules with source maps and types, and leaves the peers to the app', () => {
  const { manifest, files } = seen
  assert.equal(Object.keys(manifest.peerDependencies).sort(), [...PEERS].sort())
  assert.ok(manifest.peerDependenciesMeta.react.optional, 'react is needed only for the React entry')
  assert.is(manifest.type, 'module')
  const main = files.get(manifest.exports['.'].import)!
  assert.match(main, /^import .* from "yjs";$/m, 'Yjs is imported, not bundled')
  assert.not.match(main, /Yjs was already imported/, 'no copy of Yjs inside')
  assert.match(main, /sourceMappingURL=index\.js\.map/)
  assert.ok(JSON.parse(files.get('dist/index.js.map')!).sourcesContent.length > 0)
  assert.match(files.get(manifest.exports['.'].types)!, /export \{ Session,/)
  assert.match(files.get(manifest.exports['./react'].import)!, /^import .* from "\.\/index\.js";$/m, 'the React entry uses the main entry, not a copy of it')
  assert.match(files.get(manifest.exports['./react'].types)!, /export declare function useInbox/)
})

test('an app bundles the package with its own Yjs without aliases: one Yjs in the bundle', () => {
  assert.is(seen.bundle.match(/Yjs was already imported/g)?.length, 1)
})

test('the declarations type-check in an app: sessions, handles and the Yjs types are the app’s own', () => {
  if (seen.typecheck !== null) assert.unreachable(`the app does not type-check:\n${seen.typecheck}`)
})

test.run()
