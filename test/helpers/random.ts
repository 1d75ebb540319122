// Seeded randomness for tests (lib0/prng): a failing run names the seed that replays it.
import * as prng from 'lib0/prng'
import { digest } from 'lib0/hash/sha256'

/** A generator seeded from a string, so that every case can have a stream of its own and replay alone. */
export class Rng {
  private readonly gen: prng.PRNG

  constructor(seed: string) {
    const [a, b, c, d] = digest(new TextEncoder().encode(seed))
    this.gen = prng.create(((a << 24) | (b << 16) | (c << 8) | d) >>> 0)
  }

  /** A float in [0, 1). */
  next(): number {
    return this.gen.next()
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n)
  }

  /** An integer in [min, max]. */
  range(min: number, max: number): number {
    return min + this.int(max - min + 1)
  }

  chance(p: number): boolean {
    return this.next() < p
  }

  pick<T>(list: readonly T[]): T {
    if (list.length === 0) throw new Error('pick from an empty list')
    return prng.oneOf(this.gen, list as T[])
  }

  /** One of the options, by weight. */
  weighted<T>(options: ReadonlyArray<readonly [number, T]>): T {
    const total = options.reduce((sum, [w]) => sum + w, 0)
    let r = this.next() * total
    for (const [w, value] of options) {
      if ((r -= w) < 0) return value
    }
    return options[options.length - 1][1]
  }
}

/**
 * The seed of this run: `process.env[variable]` when set (`random` picks one), else `fallback`, so
 * that CI is deterministic. If the process ends in failure it prints how to replay the run.
 */
export function testSeed(variable: string, fallback: string): string {
  const given = process.env[variable]
  const seed = given === 'random' ? String(Math.floor(Math.random() * 1e9)) : (given ?? fallback)
  process.once('exit', (code) => {
    if (code !== 0) console.error(`seeded run failed: replay with ${variable}=${seed} npx node ${process.argv[1]}`)
  })
  return seed
}
