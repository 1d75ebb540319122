// The playground: a page at `/` to try every surface in a browser, with dev tokens minted by the
// server. Registered only when PLAYGROUND is on (`npm start` turns it on; production leaves it off).
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { z } from 'zod'
import type * as Y from 'yjs'
import type { Homeroom } from '../homeroom.ts'
import { errors, HttpError, isLoopback, before, type Api } from '../http.ts'
import { serverWrite } from '../writes.ts'
import { DEMO_USERS } from '../playground/cast.ts'
import { ROLES } from '../../docs-model/types.ts'
import { pollName, setupPoll } from '../../docs-model/surfaces/poll/surface.ts'
import { examKeyName, examName } from '../../docs-model/surfaces/exam/surface.ts'
import { busName } from '../../docs-model/surfaces/bus/surface.ts'
import { chatName } from '../../docs-model/surfaces/chat/surface.ts'
import type { ClientBundle } from '../playground/build.ts'

const dir = new URL('../playground/', import.meta.url)
const STATIC: Record<string, { file: string; type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/playground/app.css': { file: 'app.css', type: 'text/css; charset=utf-8' },
  '/sw.js': { file: 'sw.js', type: 'text/javascript; charset=utf-8' },
}

const id = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/)
const tokenBody = z.object({ school: id, sub: id, role: z.enum(ROLES).exclude(['service']), name: z.string().max(100).optional() })


export function playgroundRoutes(api: Api, app: Homeroom): void {
  if (!app.config.playground) return
  let bundle: Promise<ClientBundle> | undefined

  for (const [path, { file, type }] of Object.entries(STATIC)) {
    api.get(path, { schema: { hide: true } }, (_request, reply) => {
      const body = readFileSync(fileURLToPath(new URL(file, dir)))
      return reply.headers({ 'Content-Type': type, 'Cache-Control': 'no-cache' }).send(body)
    })
  }

  api.get('/playground/:file', { schema: { hide: true } }, async (request, reply) => {
    const { file } = request.params as { file: string }
    // Loaded on demand: esbuild is a development dependency, absent from production images.
    bundle ??= import('../playground/build.ts').then(({ buildClient }) => buildClient()).catch((error) => {
      bundle = undefined
      throw error
    })
    const body = (await bundle).get(file)
    if (!body) throw new HttpError(404, 'not-found', `no file ${file}`)
    return reply.headers({ 'Content-Type': 'text/javascript; charset=utf-8', 'Cache-Control': 'no-cache' }).send(body)
  })

  api.post(
    '/playground/token',
    {
      bodyLimit: 4096,
      // A token for any school and role: for this machine only, unless PLAYGROUND_PUBLIC says otherwise.
      preParsing: before((request) => {
        if (!app.config.playgroundPublic && !isLoopback(request.ip)) {
          throw new HttpError(403, 'forbidden', 'playground tokens are minted for callers on this host only (set PLAYGROUND_PUBLIC=1 to serve every caller)')
        }
      }),
      schema: {
        summary: 'Playground only (PLAYGROUND=1): a development token for any school and role, for loopback callers unless PLAYGROUND_PUBLIC=1',
        tags: ['playground'],
        body: tokenBody,
        response: { 200: z.object({ token: z.string() }), ...errors(400, 403, 413, 429) },
      },
    },
    async (request) => {
      const { school, sub, role, name } = request.body
      const demo = DEMO_USERS.find((u) => u.id === sub)
      // No lifetime given: 8 hours, or MAX_TOKEN_TTL when that is shorter, so the server accepts it.
      const token = await app.identities.mint({
        sub,
        name: name ?? demo?.name ?? sub,
        role,
        schools: [school],
        classes: role === 'teacher' || role === 'student' ? ['7a'] : undefined,
        buses: role === 'driver' || role === 'parent' || role === 'student' ? ['b1'] : undefined,
        children: role === 'parent' ? ['u1'] : undefined,
      })
      await seed(app, school)
      return { token }
    },
  )
}

const seeded = new Set<string>()

/** Demo content for a school, written once: a roster, a poll, an open exam and a closed one, a bus route, a chat room. */
async function seed(app: Homeroom, school: string): Promise<void> {
  if (seeded.has(school)) return
  seeded.add(school)
  if ((await app.store.roster(school)).length === 0) {
    await app.store.putRoster(
      school,
      DEMO_USERS.map((u) => ({ id: u.id, name: u.name, role: u.role, classes: ['7a'], children: u.role === 'parent' ? ['u1'] : [], buses: ['b1'] })),
    )
  }
  const once = (name: string, root: string, fill: (doc: Y.Doc) => void) =>
    serverWrite(app.hocuspocus, name, (doc) => {
      if (doc.getMap(root).size === 0) fill(doc)
    })
  await once(pollName(school, 'demo'), 'meta', (doc) => setupPoll(doc, 'Which topic should we review on Friday?', ['Fractions', 'Photosynthesis', 'The Romans', 'Poetry']))
  await once(examName(school, 'demo'), 'meta', (doc) => {
    const meta = doc.getMap('meta')
    meta.set('title', 'Science quiz')
    meta.set('startsAt', Date.now() - 60_000)
    meta.set('durationSec', 8 * 3600)
    meta.set('status', 'open')
    doc.getArray('questions').push([
      { prompt: 'What do plants need for photosynthesis?', choices: ['Sunlight', 'Moonlight', 'Music'] },
      { prompt: 'Water boils at sea level at…', choices: ['50 °C', '100 °C', '150 °C'] },
      { prompt: 'Which planet is largest?', choices: ['Mars', 'Venus', 'Jupiter'] },
    ])
  })
  // An exam that ended an hour ago: the "break the rules" panel tries to answer it anyway.
  await once(examName(school, 'closed'), 'meta', (doc) => {
    const meta = doc.getMap('meta')
    meta.set('title', 'Last week’s quiz')
    meta.set('startsAt', Date.now() - 2 * 3600_000)
    meta.set('durationSec', 3600)
    meta.set('status', 'closed')
    doc.getArray('questions').push([{ prompt: 'What is 2 + 2?', choices: ['3', '4', '5'] }])
  })
  await once(examKeyName(school, 'demo'), 'key', (doc) => {
    const key = doc.getMap('key')
    key.set('0', 0)
    key.set('1', 1)
    key.set('2', 2)
  })
  await once(busName(school, 'b1'), 'route', (doc) => {
    const route = doc.getMap('route')
    route.set('stops', [
      { id: 'depot', name: 'Depot', lat: 52.5, lng: 13.4, radiusM: 60 },
      { id: 'park', name: 'Park Lane', lat: 52.503, lng: 13.406, radiusM: 60 },
      { id: 'mill', name: 'Old Mill', lat: 52.507, lng: 13.409, radiusM: 60 },
      { id: 'school', name: 'School', lat: 52.511, lng: 13.415, radiusM: 80 },
    ])
    route.set('speedLimitKmh', 50)
  })
  await once(chatName(school, 'general'), 'meta', (doc) => doc.getMap('meta').set('title', 'Class 7a'))
}
