// The poll tally is kept incrementally (docs-model/surfaces/poll/state.ts `Tally`): checked
// differentially against a full count of the ballots, over seeded sequences of votes, revotes
// and withdrawn votes, both as the pure structure and through the server with real clients.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { useServer } from './helpers/server.ts'
import { closeClients, open, type Client } from './helpers/clients.ts'
import { classTeacher, createPoll, mapEquals, students } from './helpers/classroom.ts'
import { Rng, testSeed } from './helpers/random.ts'
import { vote, type PollMeta } from '../docs-model/surfaces/poll/surface.ts'
import { Tally, tallies } from '../docs-model/surfaces/poll/state.ts'

const seed = testSeed('TALLY_SEED', 'tally-1')
console.log(`poll tally seed: ${seed} (TALLY_SEED=<seed> to replay, TALLY_SEED=random for a new one)`)

const server = useServer()
test.after.each(closeClients)

const metaOf = (options: number): PollMeta => ({ options: Array.from({ length: options }, (_, i) => `o${i}`), kind: 'poll', anonymous: false, leaderboard: false })

test('the incremental tally equals a full count after every step of seeded vote, revote and unvote sequences', () => {
  for (let round = 0; round < 200; round++) {
    const rng = new Rng(`${seed}/pure/${round}`)
    const meta = metaOf(rng.range(1, 6))
    const votes = new Map<string, number>()
    for (let i = rng.int(20); i > 0; i--) votes.set(`u${rng.int(30)}`, rng.int(meta.options.length))
    const tally = new Tally(votes, meta)
    for (let step = 0; step < 100; step++) {
      const voter = `u${rng.int(30)}`
      const choice = rng.weighted([[6, rng.int(meta.options.length)], [2, votes.get(voter)], [1, undefined]] as const)
      const before = tallies(votes, meta)
      if (choice === undefined) votes.delete(voter)
      else votes.set(voter, choice)
      const changed = tally.set(voter, choice)
      const after = tallies(votes, meta)
      assert.equal(tally.toJSON(), after, `round ${round} step ${step}`)
      const moved = Object.keys(after).filter((key) => after[key] !== before[key])
      for (const key of moved) assert.ok(changed.includes(key), `round ${round} step ${step}: option ${key} moved but was not reported`)
    }
  }
})

test('through the server: after seeded votes and revotes of 40 students, and an option added midway, the teacher sees the full count', async () => {
  const rng = new Rng(`${seed}/server`)
  const teacher = await open(server, 's1/poll/inc', classTeacher())
  await createPoll(teacher, { options: ['a', 'b', 'c'] })
  const voters: Client[] = await Promise.all(students(40).map((claims) => open(server, `s1/poll/inc/ballot/${claims.sub}`, claims)))
  const choices = new Map<string, number>()
  let options = 3
  const castSome = async (count: number): Promise<void> => {
    for (let i = 0; i < count; i++) {
      const index = rng.int(voters.length)
      const choice = rng.int(options)
      vote(voters[index].doc, choice)
      choices.set(`u${index + 1}`, choice)
    }
    await Promise.all(voters.map((voter) => voter.acknowledged()))
  }
  await castSome(60)
  await mapEquals(teacher.doc, 'tallies', tallies(choices, metaOf(options)))
  // A fourth option: the tally is rebuilt from every ballot, then moves one ballot at a time again.
  teacher.doc.getMap('meta').set('options', ['a', 'b', 'c', 'd'])
  options = 4
  await teacher.acknowledged()
  await castSome(60)
  await mapEquals(teacher.doc, 'tallies', tallies(choices, metaOf(options)))
})

test.run()
