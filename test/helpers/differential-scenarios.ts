// One scenario per surface for the differential guard test: a concrete document, its users (the
// document's owner, teachers, other students, admins where the surface admits them), what the
// server's API and observers write there, the facts its rules consult, and the honest edits each
// user makes through the Yjs API with values that pass the layout's schemas and the rules' checks.
import * as Y from 'yjs'
import { resolve } from '../../docs-model/registry.ts'
import type { Path } from '../../docs-model/rules.ts'
import { EXAM_EVENT_TYPES, sourceOf } from '../../docs-model/surfaces/exam/surface.ts'
import { ROLES } from '../../docs-model/types.ts'
import { person, SERVER_TIME, type Honest, type HonestAction, type Scenario, type World } from './differential.ts'
import type { Rng } from './random.ts'

/** A broken honest generator is a bug of this test, not of the guard: say so loudly. */
class HonestValueError extends Error {}

function kit(name: string) {
  const { surface } = resolve(name)
  const valid = (root: string, value: unknown): unknown => {
    const schema = surface.layout[root]?.value
    if (schema) {
      const parsed = schema.safeParse(value)
      if (!parsed.success) throw new HonestValueError(`honest value for ${name} ${root} fails its schema: ${JSON.stringify(value).slice(0, 200)}: ${parsed.error.issues[0]?.message}`)
    }
    return value
  }
  const set = (root: string, key: (h: Honest) => string | null, value: (h: Honest, key: string) => unknown): HonestAction => (h) => {
    const k = key(h)
    if (k === null || !h.may([root, k])) return false
    h.doc.getMap(root).set(k, valid(root, value(h, k)))
    return true
  }
  const del = (root: string, filter: (key: string, h: Honest) => boolean = () => true): HonestAction => (h) => {
    const map = h.doc.getMap(root)
    const keys = [...map.keys()].filter((k) => filter(k, h))
    if (keys.length === 0) return false
    const k = h.rng.pick(keys)
    if (!h.mayDelete([root, k], map.get(k))) return false
    map.delete(k)
    return true
  }
  const push = (root: string, value: (h: Honest) => unknown): HonestAction => (h) => {
    if (!h.may([root])) return false
    h.doc.getArray(root).push([valid(root, value(h))])
    return true
  }
  const insertAt = (root: string, value: (h: Honest) => unknown): HonestAction => (h) => {
    if (!h.may([root])) return false
    const array = h.doc.getArray(root)
    array.insert(h.rng.int(array.length + 1), [valid(root, value(h))])
    return true
  }
  const remove = (root: string): HonestAction => (h) => {
    const array = h.doc.getArray(root)
    if (array.length === 0) return false
    const i = h.rng.int(array.length)
    if (!h.mayDelete([root], array.get(i))) return false
    array.delete(i, 1)
    return true
  }
  /** Several keys in one go (all or none). */
  const setMany = (root: string, entries: (h: Honest) => Record<string, unknown> | null): HonestAction => (h) => {
    const all = entries(h)
    if (!all || !Object.keys(all).every((k) => h.may([root, k]))) return false
    for (const [k, v] of Object.entries(all)) h.doc.getMap(root).set(k, valid(root, v))
    return true
  }
  return { set, del, push, insertAt, remove, setMany, valid }
}

const pickOr = <T>(rng: Rng, list: readonly T[], fallback: T): T => (list.length > 0 ? rng.pick(list) : fallback)
const word = (rng: Rng) => rng.pick(['apple', 'pear', 'plum', 'fig', 'kiwi', 'lime', 'date'])
const subsOf = (h: Honest) => [h.user.sub, ...h.others]
const self = (h: Honest) => h.user.sub

/** A time an honest client writes: within the window around the simulated server's clock (its edges included). */
const clientTime = (rng: Rng): number => SERVER_TIME.now() + rng.range(-SERVER_TIME.skewMs, SERVER_TIME.skewMs)
/** A time a hostile value may carry: mostly an honest one, else just outside the window, long ago, or unreadable. */
const anyTime = (rng: Rng): unknown =>
  rng.weighted<() => unknown>([
    [5, () => clientTime(rng)],
    [1, () => SERVER_TIME.now() + (rng.chance(0.5) ? 1 : -1) * (SERVER_TIME.skewMs + 1 + rng.int(1000))],
    [1, () => rng.int(100)],
    [1, () => rng.pick(['2020-01-01T00:00:00Z', new Date(SERVER_TIME.now()).toISOString(), 'yesterday'])],
  ])()

// --- chat-like surfaces (chat, dm, group) -------------------------------------------------------

const message = (id: string, author: string, n: number, rng: Rng, at: unknown = clientTime(rng)) => ({
  id, author, text: `${word(rng)} ${n}`, at, ...(rng.chance(0.1) ? { file: { name: 'a.pdf', size: n, url: `https://files/x${n}` } } : {}),
})

function conversationActions(name: string): HonestAction[] {
  const k = kit(name)
  return [
    k.push('messages', (h) => message(`${h.user.sub}-m${h.n()}`, h.user.sub, h.n(), h.rng)),
    k.push('messages', (h) => message(`${h.user.sub}-m${h.n()}`, h.user.sub, h.n(), h.rng)),
    k.remove('messages'),
    k.set('reads', self, (h) => {
      const messages = h.doc.getArray('messages').toArray() as Array<{ id?: string }>
      return pickOr(h.rng, messages.map((m) => String(m?.id ?? 'm0').slice(0, 64)), 'm0')
    }),
  ]
}

const conversationGrow = (h: Honest, _phase: 0 | 1): boolean => {
  if (!h.may(['messages'])) return false
  h.doc.getArray('messages').push([message(`${h.user.sub}-g${h.n()}`, h.user.sub, h.n(), h.rng)])
  return true
}

const conversationSample = (root: string, key: string | null, rng: Rng, sub: string): unknown => {
  if (root === 'messages') return message(`${sub}-h${rng.int(1000)}`, sub, rng.int(1000), rng, anyTime(rng))
  if (root === 'reads') return `m${rng.int(9)}`
  if (root === 'members') return { at: anyTime(rng) }
  if (root === 'meta') return rng.pick([`name ${key}`, [sub, 'u2'], 3, true, sub])
  return rng.pick([1, 'x', true])
}

// --- doc body (ProseMirror-like XML) -------------------------------------------------------------

function texts(doc: Y.Doc): Y.XmlText[] {
  const out: Y.XmlText[] = []
  for (const node of doc.getXmlFragment('body').toArray()) {
    if (node instanceof Y.XmlElement) for (const child of node.toArray()) if (child instanceof Y.XmlText) out.push(child)
  }
  return out
}

function paragraph(text: string): Y.XmlElement {
  const p = new Y.XmlElement('paragraph')
  p.insert(0, [new Y.XmlText(text)])
  return p
}

const body: Path = ['body']

const bodyActions: HonestAction[] = [
  (h) => {
    if (!h.may(body)) return false
    const list = texts(h.doc)
    if (list.length === 0) h.doc.getXmlFragment('body').insert(0, [paragraph(`${word(h.rng)} `)])
    else {
      const text = h.rng.pick(list)
      text.insert(h.rng.int(text.length + 1), `${word(h.rng)} `)
    }
    return true
  },
  (h) => {
    const list = texts(h.doc).filter((t) => t.length > 0)
    if (list.length === 0 || !h.may(body, 'delete')) return false
    const text = h.rng.pick(list)
    const at = h.rng.int(text.length)
    text.delete(at, h.rng.range(1, Math.min(4, text.length - at)))
    return true
  },
  (h) => {
    const list = texts(h.doc).filter((t) => t.length > 1)
    if (list.length === 0 || !h.may(body) || !h.may(body, 'delete')) return false
    const text = h.rng.pick(list)
    const at = h.rng.int(text.length - 1)
    text.format(at, h.rng.range(1, text.length - at), { bold: h.rng.chance(0.7) ? true : null })
    return true
  },
  (h) => {
    if (!h.may(body)) return false
    const fragment = h.doc.getXmlFragment('body')
    fragment.insert(h.rng.int(fragment.length + 1), [paragraph(`${word(h.rng)} ${h.n()}`)])
    return true
  },
  (h) => {
    const fragment = h.doc.getXmlFragment('body')
    if (fragment.length === 0 || !h.may(body, 'delete')) return false
    fragment.delete(h.rng.int(fragment.length), 1)
    return true
  },
  (h) => {
    const nodes = h.doc.getXmlFragment('body').toArray().filter((n): n is Y.XmlElement => n instanceof Y.XmlElement)
    if (nodes.length === 0 || !h.may(['body', 'align'])) return false
    h.rng.pick(nodes).setAttribute('align', h.rng.pick(['left', 'center', 'right']))
    return true
  },
]

function bodyGrow(h: Honest, phase: 0 | 1, memo: Record<string, unknown>): boolean {
  if (!h.may(body)) return false
  if (phase === 0) {
    let text = h.rng.pick([...texts(h.doc), null])
    if (!text) {
      const p = paragraph('')
      h.doc.getXmlFragment('body').insert(0, [p])
      text = p.get(0) as Y.XmlText
    }
    const at = h.rng.int(text.length + 1)
    text.insert(at, 'ab')
    memo.text = text
    memo.at = at + 2
    return true
  }
  const text = memo.text as Y.XmlText
  text.insert(memo.at as number, 'cd')
  return true
}

// --- scenarios -------------------------------------------------------------------------------------

const docName = 's1/doc/d1'
const docKit = kit(docName)
const docComment = (h: Honest, n = h.n()) => ({
  text: `${word(h.rng)} ${n}`, at: clientTime(h.rng), ...(h.rng.chance(0.5) ? { anchor: h.rng.chance(0.5) ? n : { from: n, to: n + 3 } } : {}), ...(h.rng.chance(0.2) ? { resolved: h.rng.chance(0.5) } : {}),
})

const boardName = 's1/board/b1'
const boardKit = kit(boardName)
const boardElement = (rng: Rng, n: number, big = false) =>
  rng.chance(0.5) || big
    ? { kind: 'pen', points: Array.from({ length: big ? rng.range(4000, 9000) : rng.range(2, 12) }, (_, i) => (i * 37 + n) % 5000), color: 'blue', z: n }
    : { kind: rng.pick(['rect', 'text']), x: n, y: n + 1, w: 10, h: 5, ...(rng.chance(0.3) ? { text: word(rng) } : {}), color: 'red', z: n }

const pollName = 's1/poll/p1'
const pollKit = kit(pollName)
const ballotName = 's1/poll/p2/ballot/u1'
const ballotKit = kit(ballotName)
const pollKeyName = 's1/poll/p1/key'
const pollKeyKit = kit(pollKeyName)
const examName = 's1/exam/e1'
const examKit = kit(examName)
const examKeyName = 's1/exam/e1/key'
const examKeyKit = kit(examKeyName)
const studentName = 's1/exam/e2/student/u1'
const studentKit = kit(studentName)
const monitorName = 's1/exam/e1/monitor'
const monitorKit = kit(monitorName)
const chatName = 's1/chat/c1'
const chatKit = kit(chatName)
const dmName = 's1/dm/t1~u1'
const groupName = 's1/group/g1'
const groupKit = kit(groupName)
const inboxName = 's1/inbox/u1'
const inboxKit = kit(inboxName)
const emergencyName = 's1/emergency/x1'
const emergencyKit = kit(emergencyName)
const busName = 's1/bus/b1'
const busKit = kit(busName)
const className = 's1/class/7a'
const classKit = kit(className)
const dashboardName = 's1/dashboard/d1'
const dashboardKit = kit(dashboardName)

const examEvent = (rng: Rng, n: number, at: unknown = clientTime(rng), source?: string) => ({
  type: rng.pick(EXAM_EVENT_TYPES), at, ...(rng.chance(0.3) ? { detail: rng.chance(0.5) ? 'note' : { durationSec: n % 60, faces: 2 } } : {}), ...(source ? { source } : {}),
})
/** An event as its writer files it: with the writer's own source (none for the student). */
const ownEvent = (h: Honest) => examEvent(h.rng, h.n(), clientTime(h.rng), sourceOf(h.user))
const question = (rng: Rng, n: number) => ({ prompt: `Q${n}: ${word(rng)}?`, choices: [word(rng), word(rng), word(rng)] })
const busFix = (rng: Rng, n: number, at: unknown = clientTime(rng)) => ({ lat: (n % 90) - 45, lng: (n % 180) - 90, speed: n % 120, heading: n % 360, at, ...(rng.chance(0.3) ? { accuracy: 5 } : {}) })
const busStop = (rng: Rng, n: number) => ({ id: `stop${n}`, name: `Stop ${word(rng)}`, lat: 10, lng: 20, radiusM: 50, ...(rng.chance(0.5) ? { riders: ['u1', 'u2'] } : {}) })
const inboxItem = (rng: Rng, n: number) => ({ type: 'notice', title: `Notice ${n}`, body: word(rng), priority: rng.pick(['low', 'normal', 'high', 'urgent'] as const), at: n })
const alert = (user: string, type: string, n: number) => ({ user, type, severity: 'low', at: n, count: 1 + (n % 3) })
const jsonValue = (rng: Rng, n: number, big = false): unknown =>
  big ? { blob: 'z'.repeat(rng.range(17_000, 30_000)) } : rng.pick<unknown>([n, n / 7, `v${n}`, [n, n + 1], { n, label: word(rng), nested: { deep: [1, 2, { x: n }] } }, null, true])

export const SCENARIOS: Scenario[] = [
  {
    name: docName,
    users: [person('t1', 'teacher'), person('u1', 'student'), person('u2', 'student'), person('a1', 'admin')],
    legacy: (d) => d.getMap('comments').set('t1:old', { text: 'from before ownership', at: 1 }),
    setup: (d) => {
      d.getMap('meta').set('title', 'Essay')
      d.getXmlFragment('body').insert(0, [paragraph('Hello class. ')])
    },
    honest: [
      ...bodyActions,
      docKit.set('comments', (h) => `${h.user.sub}:c${h.rng.int(4)}`, (h) => docComment(h)),
      docKit.set('comments', (h) => pickOr(h.rng, [...h.doc.getMap('comments').keys()], null), (h) => ({ ...docComment(h), resolved: true })),
      docKit.del('comments'),
      docKit.set('meta', (h) => h.rng.pick(['title', 'wordCount', 'locked']), (h, key) => (key === 'title' ? `Title ${h.n()}` : key === 'wordCount' ? h.n() : h.rng.chance(0.5))),
      docKit.del('meta'),
    ],
    grow: bodyGrow,
    sharedText: true,
    sample: (root, key, rng, sub) =>
      root === 'comments' ? { text: `c ${key}`, at: anyTime(rng), ...(rng.chance(0.3) ? { anchor: 3 } : {}) } : root === 'meta' ? rng.pick(['Essay', 12, true]) : rng.pick(['text', 1, { author: sub }]),
  },
  {
    name: boardName,
    users: [person('t1', 'teacher'), person('u1', 'student'), person('u2', 'student')],
    legacy: (d) => d.getMap('elements').set('u2:old', { kind: 'rect', color: 'red', z: 0 }),
    setup: (d) => d.getMap('meta').set('title', 'Board'),
    honest: [
      boardKit.set('elements', (h) => `${h.user.sub}:e${h.rng.int(5)}`, (h) => boardElement(h.rng, h.n())),
      boardKit.set('elements', (h) => `${h.user.sub}:e${h.rng.int(5)}`, (h) => boardElement(h.rng, h.n())),
      boardKit.set('elements', (h) => (h.rng.chance(0.05) ? `${h.user.sub}:big` : null), (h) => boardElement(h.rng, h.n(), true)),
      boardKit.set('elements', (h) => pickOr(h.rng, [...h.doc.getMap('elements').keys()], null), (h) => boardElement(h.rng, h.n())),
      boardKit.del('elements'),
      boardKit.set('meta', (h) => h.rng.pick(['title', 'locked', 'locked']), (h, key) => (key === 'title' ? `Board ${h.n()}` : h.rng.chance(0.4))),
    ],
    sample: (root, key, rng) => (root === 'elements' ? boardElement(rng, rng.int(100)) : root === 'meta' ? rng.pick([`t ${key}`, true, false]) : 1),
  },
  {
    name: pollName,
    users: [person('t1', 'teacher'), person('t2', 'teacher'), person('u1', 'student')],
    setup: (d) => {
      d.getMap('meta').set('question', 'Best fruit?')
      d.getMap('meta').set('options', ['apple', 'pear'])
      d.getMap('tallies').set('0', 3)
    },
    serverWrite: (d, rng, n) => {
      if (rng.chance(0.7)) d.getMap('tallies').set(String(rng.int(3)), n)
      else d.getMap('results').set(rng.pick(['correct', 'winner', 'detail']), rng.chance(0.5) ? n : { at: n, by: 'server' })
    },
    honest: [
      pollKit.set('meta', (h) => h.rng.pick(['question', 'options', 'kind', 'anonymous', 'closesAt', 'leaderboard']), (h, key) =>
        key === 'question' ? `Q ${h.n()}?` : key === 'options' ? Array.from({ length: h.rng.range(1, 4) }, () => word(h.rng)) : key === 'kind' ? h.rng.pick(['poll', 'quiz']) : key === 'anonymous' ? h.rng.chance(0.5) : key === 'closesAt' ? 4_000_000_000_000 : 'l1'),
      pollKit.del('meta'),
    ],
    sample: (root, _key, rng) => (root === 'tallies' ? rng.int(10) : root === 'meta' ? rng.pick(['Q?', ['a', 'b'], 'quiz', true, 5]) : { correct: 1 }),
  },
  {
    name: ballotName,
    users: [person('u1', 'student'), person('u2', 'student'), person('t1', 'teacher')],
    related: { 's1/poll/p2': (d) => d.getMap('meta').set('options', ['a', 'b', 'c']) },
    relatedWrite: (world, rng) => {
      const poll = world.related.get('s1/poll/p2')!
      rng.weighted<() => void>([
        [3, () => poll.getMap('meta').set('closesAt', 1)],
        [3, () => poll.getMap('meta').set('closesAt', 4_000_000_000_000)],
        [2, () => poll.getMap('meta').delete('closesAt')],
        [2, () => poll.getMap('meta').set('options', [...((poll.getMap('meta').get('options') as string[]) ?? []), word(rng)].slice(0, 50))],
        [2, () => world.freezes.set('s1/poll/p2', 'frozen: poll ended by the timer')],
        [3, () => world.freezes.delete('s1/poll/p2')],
      ])()
    },
    honest: [
      ballotKit.set('ballot', () => 'choice', (h) => h.rng.int(((h.related('s1/poll/p2')?.getMap('meta').get('options') as unknown[]) ?? ['a']).length)),
      ballotKit.set('ballot', () => 'at', (h) => clientTime(h.rng)),
    ],
    sample: (_root, key, rng) => (key === 'choice' ? rng.int(5) : anyTime(rng)),
  },
  {
    name: pollKeyName,
    users: [person('t1', 'teacher'), person('t2', 'teacher')],
    setup: (d) => d.getMap('key').set('correct', 1),
    honest: [pollKeyKit.set('key', (h) => h.rng.pick(['correct', String(h.rng.int(3))]), (h) => h.rng.int(4)), pollKeyKit.del('key')],
    sample: (_root, _key, rng) => rng.int(4),
  },
  {
    name: examName,
    users: [person('t1', 'teacher'), person('t2', 'teacher'), person('u1', 'student')],
    setup: (d) => {
      d.getMap('meta').set('status', 'open')
      d.getArray('questions').push([{ prompt: 'Q0?', choices: ['a', 'b'] }])
    },
    serverWrite: (d, rng, n) => d.getMap('meta').set(rng.pick(['status', 'gradedAt']), rng.chance(0.5) ? rng.pick(['open', 'closed', 'scheduled']) : n),
    honest: [
      examKit.set('meta', (h) => h.rng.pick(['title', 'status', 'duration']), (h, key) => (key === 'title' ? `Exam ${h.n()}` : key === 'status' ? h.rng.pick(['scheduled', 'open', 'closed']) : h.n())),
      examKit.push('questions', (h) => question(h.rng, h.n())),
      examKit.insertAt('questions', (h) => question(h.rng, h.n())),
      examKit.remove('questions'),
      examKit.del('meta'),
    ],
    grow: (h) => {
      if (!h.may(['questions'])) return false
      h.doc.getArray('questions').push([question(h.rng, h.n())])
      return true
    },
    sample: (root, _key, rng) => (root === 'questions' ? question(rng, rng.int(100)) : rng.pick(['open', 'closed', 'Title', 30])),
  },
  {
    name: examKeyName,
    users: [person('t1', 'teacher'), person('t2', 'teacher')],
    setup: (d) => d.getMap('key').set('0', 1),
    honest: [examKeyKit.set('key', (h) => String(h.rng.int(5)), (h) => h.rng.int(4)), examKeyKit.del('key')],
    sample: (_root, _key, rng) => rng.int(4),
  },
  {
    name: studentName,
    users: [person('u1', 'student'), person('u2', 'student'), person('t1', 'teacher'), person('pr1', 'proctor')],
    related: { 's1/exam/e2': (d) => d.getMap('meta').set('status', 'open') },
    setup: (d) => {
      d.getMap('status').set('state', 'in_progress')
      d.getArray('events').push([{ type: 'tab_switch', at: 1 }])
    },
    serverWrite: (d, rng, n) => {
      if (rng.chance(0.15)) d.getMap('status').set('state', 'submitted')
      else d.getMap('status').set(rng.pick(['score', 'submittedAt']), n)
    },
    relatedWrite: (world, rng) => {
      const exam = world.related.get('s1/exam/e2')!
      rng.weighted<() => void>([
        [4, () => exam.getMap('meta').set('status', 'open')],
        [2, () => exam.getMap('meta').set('status', rng.pick(['closed', 'scheduled']))],
        [2, () => world.freezes.set('s1/exam/e2', 'frozen: exam ended by the timer')],
        [3, () => world.freezes.delete('s1/exam/e2')],
      ])()
    },
    honest: [
      studentKit.set('answers', (h) => String(h.rng.int(5)), (h) => h.rng.int(4)),
      studentKit.set('answers', (h) => String(h.rng.int(5)), (h) => h.rng.int(4)),
      studentKit.setMany('progress', (h) => ({ current: h.rng.int(5), at: clientTime(h.rng) })),
      studentKit.push('events', ownEvent),
      // The student hands in; a teacher reopens.
      (h) => (h.rng.chance(0.15) ? studentKit.set('status', () => 'state', () => (h.user.role === 'teacher' ? 'in_progress' : 'submitted'))(h) : false),
    ],
    grow: (h) => {
      if (!h.may(['events'])) return false
      h.doc.getArray('events').push([ownEvent(h)])
      return true
    },
    sample: (root, key, rng, sub) =>
      root === 'events' ? examEvent(rng, rng.int(100), anyTime(rng), rng.pick([undefined, 'student', 'proctor', `service:${sub}`])) : root === 'status' ? rng.pick(['submitted', 'in_progress', 90]) : key === 'at' ? anyTime(rng) : rng.int(4),
  },
  {
    name: monitorName,
    users: [person('t1', 'teacher'), person('pr1', 'proctor'), person('t2', 'teacher')],
    setup: (d) => {
      d.getMap('students').set('u1', { answered: 1 })
      d.getMap('alerts').set('u1:tab_switch', alert('u1', 'tab_switch', 1))
    },
    serverWrite: (d, rng, n) => {
      if (rng.chance(0.5)) d.getMap('students').set(rng.pick(['u1', 'u2']), { answered: n, online: rng.chance(0.5) })
      else d.getMap('alerts').set(`${rng.pick(['u1', 'u2'])}:${rng.pick(EXAM_EVENT_TYPES)}`, alert('u1', rng.pick(EXAM_EVENT_TYPES), n))
    },
    honest: [monitorKit.set('acks', (h) => pickOr(h.rng, [...h.doc.getMap('alerts').keys()], 'u1:tab_switch'), (h) => ({ by: h.user.sub, at: clientTime(h.rng) }))],
    sample: (root, key, rng, sub) => (root === 'acks' ? { by: sub, at: anyTime(rng) } : root === 'alerts' ? alert('u1', 'tab_switch', 1) : { answered: 1, key }),
  },
  {
    name: chatName,
    users: [person('u1', 'student'), person('u2', 'student'), person('t1', 'teacher'), person('a1', 'admin')],
    legacy: (d) => d.getArray('messages').push([{ id: 'old1', author: 't1', text: 'welcome', at: 1 }]),
    setup: (d) => d.getMap('meta').set('title', 'Room'),
    honest: [
      ...conversationActions(chatName),
      chatKit.set('meta', (h) => h.rng.pick(['title', 'members']), (h, key) => (key === 'title' ? `Room ${h.n()}` : subsOf(h).filter(() => h.rng.chance(0.7)))),
    ],
    grow: conversationGrow,
    sample: conversationSample,
  },
  {
    name: dmName,
    users: [person('t1', 'teacher'), person('u1', 'student')],
    honest: conversationActions(dmName),
    grow: conversationGrow,
    sample: conversationSample,
  },
  {
    name: groupName,
    users: [person('u1', 'student'), person('u2', 'student'), person('u3', 'student'), person('t1', 'teacher')],
    honest: [
      groupKit.setMany('meta', (h) =>
        h.doc.getMap('meta').get('owner') === undefined
          ? { owner: h.user.sub, name: `Group ${h.n()}`, maxMembers: h.rng.range(2, 4), isPublic: h.rng.chance(0.6), invited: h.others.filter(() => h.rng.chance(0.5)) }
          : null),
      groupKit.set('meta', (h) => h.rng.pick(['name', 'isPublic', 'maxMembers', 'invited', 'description']), (h, key) =>
        key === 'isPublic' ? h.rng.chance(0.6) : key === 'maxMembers' ? h.rng.range(2, 5) : key === 'invited' ? h.others.filter(() => h.rng.chance(0.5)) : `${key} ${h.n()}`),
      groupKit.set('members', self, (h) => ({ at: clientTime(h.rng) })),
      groupKit.set('members', self, (h) => ({ at: clientTime(h.rng) })),
      groupKit.del('members'),
      ...conversationActions(groupName),
    ],
    grow: conversationGrow,
    sample: conversationSample,
  },
  {
    name: inboxName,
    users: [person('u1', 'student')],
    setup: (d) => d.getMap('items').set('n1', { type: 'notice', title: 'Hi', body: '', priority: 'low', at: 1 }),
    serverWrite: (d, rng, n) => d.getMap('items').set(`n${n}`, inboxItem(rng, n)),
    honest: [inboxKit.set('read', (h) => pickOr(h.rng, [...h.doc.getMap('items').keys()], null), (h) => 1_000 + h.n())],
    sample: (root, _key, rng) => (root === 'items' ? inboxItem(rng, rng.int(100)) : rng.int(1000)),
  },
  {
    name: emergencyName,
    users: [person('a1', 'admin'), person('dr1', 'director'), person('u1', 'student'), person('t1', 'teacher'), person('u2', 'student')],
    serverWrite: (d, rng, n) => {
      const status = d.getMap('status')
      if (d.getMap('broadcast').size > 0 && rng.chance(0.3)) d.getMap('broadcast').set('level', rng.pick(['warning', 'critical']))
      else status.set(rng.pick(['targeted', 'acked', 'escalations', 'startedAt']), n)
    },
    honest: [
      emergencyKit.setMany('broadcast', (h) => ({
        title: `Drill ${h.n()}`, body: 'Go to the yard', level: h.rng.pick(['info', 'warning', 'critical']), targetRoles: ROLES.filter((r) => r === 'student' || h.rng.chance(0.4)), at: clientTime(h.rng),
      })),
      emergencyKit.set('acks', self, (h) => ({ at: clientTime(h.rng) })),
      emergencyKit.set('acks', self, (h) => ({ at: clientTime(h.rng) })),
      // The all clear, by an admin or the broadcast's sender, once.
      emergencyKit.setMany('cleared', (h) => (h.doc.getMap('cleared').size > 0 ? null : { by: h.user.sub, at: clientTime(h.rng) })),
    ],
    sample: (root, key, rng, sub) =>
      root === 'acks' ? { at: anyTime(rng) }
      : root === 'broadcast' ? (key === 'targetRoles' ? ['student'] : key === 'at' ? anyTime(rng) : rng.pick(['Drill', 'info', 5]))
      : root === 'cleared' ? (key === 'by' ? rng.pick([sub, 'a1', 'dr1', 'u1']) : key === 'at' ? anyTime(rng) : rng.pick([sub, 5]))
      : rng.int(5),
  },
  {
    name: busName,
    users: [person('d1', 'driver', { buses: ['b1'] }), person('a1', 'admin', { buses: ['b1'] }), person('p1', 'parent', { buses: ['b1'], children: ['u1'] }), person('d2', 'driver', { buses: ['b1'] })],
    setup: (d) => d.getMap('route').set('speedLimitKmh', 50),
    serverWrite: (d, rng, n) => d.getMap('alerts').set(rng.pick(['speeding', 'stale', 'arrived']), { type: 'stale', at: n, detail: rng.chance(0.5) ? { afterS: 30 } : '' }),
    honest: [
      busKit.set('position', () => 'now', (h) => busFix(h.rng, h.n())),
      busKit.set('position', () => 'now', (h) => busFix(h.rng, h.n())),
      busKit.set('route', (h) => h.rng.pick(['stops', 'speedLimitKmh']), (h, key) => (key === 'stops' ? Array.from({ length: h.rng.range(1, 3) }, () => busStop(h.rng, h.n())) : h.rng.range(20, 90))),
      busKit.del('route'),
    ],
    sample: (root, _key, rng) => (root === 'position' ? busFix(rng, rng.int(100), anyTime(rng)) : root === 'route' ? rng.pick([[busStop(rng, 1)], 40]) : { type: 'stale', at: 1 }),
  },
  {
    name: className,
    users: [person('u1', 'student', { classes: ['7a'] }), person('u2', 'student', { classes: ['7a'] }), person('t1', 'teacher')],
    setup: (d) => d.getMap('stats').set('active', 0),
    serverWrite: (d, rng, n) => {
      if (rng.chance(0.3)) d.getMap('activity').set(rng.pick(['u1', 'u2']), { state: 'away', at: n })
      else d.getMap('stats').set(rng.pick(['active', 'idle', 'away', 'participation']), n % 100)
    },
    honest: [
      classKit.set('activity', self, (h) => ({ state: h.rng.pick(['active', 'idle', 'away'] as const), at: clientTime(h.rng), ...(h.rng.chance(0.4) ? { handRaised: h.rng.chance(0.5) } : {}), ...(h.rng.chance(0.3) ? { page: '/p/1' } : {}) })),
      classKit.set('actions', (h) => h.rng.pick(['lock', 'message', 'focus']), (h, key) => (key === 'lock' ? h.rng.chance(0.5) : key === 'message' ? `msg ${h.n()}` : null)),
      classKit.del('actions'),
    ],
    sample: (root, _key, rng) => (root === 'activity' ? { state: 'active', at: anyTime(rng) } : root === 'actions' ? rng.pick([true, 'hi', null]) : rng.int(9)),
  },
  {
    name: dashboardName,
    users: [person('svc', 'service'), person('a1', 'admin'), person('t1', 'teacher'), person('dr1', 'director')],
    setup: (d) => d.getMap('data').set('attendance', 0.9),
    honest: [
      dashboardKit.set('data', (h) => h.rng.pick(['attendance', 'grades', 'late', `k${h.rng.int(5)}`]), (h) => jsonValue(h.rng, h.n())),
      dashboardKit.set('data', (h) => (h.rng.chance(0.05) ? 'export' : null), (h) => jsonValue(h.rng, h.n(), true)),
      dashboardKit.del('data'),
    ],
    sample: (_root, _key, rng) => jsonValue(rng, rng.int(100)),
  },
  {
    name: 's1/leaderboard/l1',
    users: [person('u1', 'student'), person('t1', 'teacher')],
    setup: (d) => d.getMap('entries').set('u2', { name: 'U2', score: 5, rank: 1 }),
    serverWrite: (d, rng, n) => {
      if (rng.chance(0.5)) d.getMap('entries').set(rng.pick(['u1', 'u2']), { name: 'U', score: n, rank: 1 + (n % 3) })
      else if (rng.chance(0.7)) d.getMap('sources').set(`quiz${n % 3}`, { u1: { name: 'U1', score: n } })
      else {
        // A nested type, so hostile structs can name a type the server holds as their parent.
        const source = new Y.Map<unknown>()
        d.getMap('sources').set(`exam${n % 2}`, source)
        source.set('u2', { name: 'U2', score: n })
      }
    },
    honest: [],
    sample: (root, _key, rng) => (root === 'entries' ? { name: 'Me', score: 1e6, rank: 1 } : { u1: { name: 'U1', score: rng.int(100) } }),
  },
  {
    name: 's1/exam/e1/result/u1',
    users: [person('u1', 'student'), person('t1', 'teacher'), person('p1', 'parent', { children: ['u1'] })],
    setup: (d) => d.getMap('result').set('score', 3),
    serverWrite: (d, rng, n) => d.getMap('result').set(rng.pick(['score', 'of', 'gradedAt', 'submittedAt']), n),
    honest: [],
    sample: (_root, _key, rng) => rng.int(100),
  },
  {
    name: 's1/poll/q1/result/u1',
    users: [person('u1', 'student'), person('t1', 'teacher')],
    setup: (d) => d.getMap('result').set('points', 0),
    serverWrite: (d, rng, n) => d.getMap('result').set(rng.pick(['choice', 'points', 'closedAt', 'correct']), rng.chance(0.3) ? n % 2 === 0 : n),
    honest: [],
    sample: (_root, _key, rng) => (rng.chance(0.5) ? rng.int(5) : true),
  },
  {
    name: 's1/system/status',
    users: [person('a1', 'admin'), person('dr1', 'director')],
    serverWrite: (d, rng, n) => d.getMap('now').set(rng.pick(['connections', 'documents', 'at']), n),
    honest: [],
    sample: (_root, _key, rng) => rng.int(100),
  },
]

export { HonestValueError, type World }
