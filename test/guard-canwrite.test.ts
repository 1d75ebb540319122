// The clients' helper (userCanWrite) and the server's guard agree on every path: for every
// surface, role and candidate key, a path the helper refuses is refused by the guard, and a path
// the helper allows is never refused by the guard for its path (only, possibly, for its value).
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import * as Y from 'yjs'
import { SURFACES } from '../docs-model/registry.ts'
import { userCanWrite, writeContext } from '../docs-model/rules.ts'
import { resolve } from '../docs-model/registry.ts'
import { ROLES, type Identity } from '../docs-model/types.ts'
import { checkUpdate } from '../server/guard/check.ts'

/** A document name for each surface, with u1 and t1 as the users it names. */
const nameFor = (pattern: string): string =>
  `s1/${pattern.replace(':pair', 't1~u1').replace(':user', 'u1').replace(/:[a-z]+/g, 'x1')}`

test('userCanWrite and the guard agree on every map path of every surface, for every role', () => {
  let compared = 0
  for (const surface of SURFACES) {
    const name = nameFor(surface.pattern)
    const { ref } = resolve(name)
    for (const role of ROLES) {
      for (const sub of ['u1', 't1', 'z9']) {
        const user: Identity = { sub, name: sub, role, schools: ['s1'], classes: ['x1'], children: [], buses: ['x1'] }
        for (const [root, decl] of Object.entries(surface.layout)) {
          if (decl.kind !== 'map') continue
          for (const key of [sub, `${sub}:k`, 'u2', 'u2:k', 'choice', 'now', 'title', 'state', '0']) {
            const server = new Y.Doc()
            const client = new Y.Doc()
            client.getMap(root).set(key, 1)
            const reason = checkUpdate(Y.encodeStateAsUpdate(client), surface, writeContext(user, ref, server))
            const pathOnly = reason === `forbidden-write: ${root}/${key}` || reason?.startsWith('frozen:') === true
            const allowed = userCanWrite(name, [root, key], user, server)
            assert.is(allowed, !pathOnly, `${name} ${role} ${sub} ${root}/${key}: helper ${allowed}, guard ${reason}`)
            compared++
          }
        }
      }
    }
  }
  assert.ok(compared > 1000)
})

test.run()
