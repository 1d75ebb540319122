// The layout's rules (docs/architecture.md): no file-level import cycle, and the server never
// imports the command line, benchmarks or tests. Checked on the real import graph (madge).
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import madge from 'madge'

const graph = await madge(['server', 'extensions', 'docs-model', 'scripts'], { fileExtensions: ['ts'] })

test('the graph holds the whole code base, so the checks below look at something', () => {
  const files = Object.keys(graph.obj())
  for (const file of ['server/app.ts', 'server/homeroom.ts', 'extensions/observers/registry.ts', 'docs-model/registry.ts', 'scripts/homeroom.ts']) assert.ok(files.includes(file), `${file} in the graph`)
  assert.ok(graph.obj()['server/app.ts'].includes('server/homeroom.ts'), 'imports are resolved')
})

test('no file-level import cycle among server, extensions, docs-model and scripts', () => {
  const cycles = graph.circular()
  assert.equal(cycles, [], `cycles:\n${cycles.map((c) => c.join(' > ')).join('\n')}`)
})

test('server/, extensions/ and docs-model/ import nothing from scripts/ or test/', () => {
  const wrong = Object.entries(graph.obj()).flatMap(([file, imports]) =>
    /^(server|extensions|docs-model)\//.test(file) ? imports.filter((i) => /^(scripts|test)\//.test(i)).map((i) => `${file} -> ${i}`) : [],
  )
  assert.equal(wrong, [])
})

test('the model imports nothing from the server or its extensions (it also runs in browsers)', () => {
  const wrong = Object.entries(graph.obj()).flatMap(([file, imports]) =>
    file.startsWith('docs-model/') ? imports.filter((i) => /^(server|extensions|scripts)\//.test(i)).map((i) => `${file} -> ${i}`) : [],
  )
  assert.equal(wrong, [])
})

test.run()
