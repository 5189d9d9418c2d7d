/**
 * @module core/rng
 * Seeded, serialisable pseudo-random numbers for search strategies and simulations.
 * Same seed → same sequence in every process and on every Temporal replay; the state can be
 * saved to Postgres and restored, so a resumed search draws exactly what the original would have.
 *
 * Pure module: safe to import from workflow code (never use `Math.random` in Kaizen logic).
 */
import { xoroshiro128plus, xoroshiro128plusFromState } from 'pure-rand/generator/xoroshiro128plus'
import { uniformFloat64 } from 'pure-rand/distribution/uniformFloat64'
import type { RandomGenerator } from 'pure-rand/types/RandomGenerator'

/** 32-bit FNV-1a over the parts, finished with murmur3's avalanche so nearby seeds diverge. */
export function seed32(...parts: ReadonlyArray<string | number>): number {
  let h = 0x811c9dc5
  const text = parts.map(String).join('\u0000')
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h | 0
}

export type RngState = readonly number[]

/**
 * @example
 * const rng = Rng.fromSeed('campaign-42', 'round', 3)
 * rng.float() // in [0, 1)
 * const saved = rng.state(); Rng.fromState(saved).float() === rng.float()
 */
export class Rng {
  private constructor(private readonly gen: RandomGenerator) {}

  static fromSeed(...parts: ReadonlyArray<string | number>): Rng {
    const rng = new Rng(xoroshiro128plus(seed32(...parts)))
    // xoroshiro's first outputs from a small seed are poorly mixed; burn a few.
    for (let i = 0; i < 8; i++) rng.gen.next()
    return rng
  }

  static fromState(state: RngState): Rng {
    return new Rng(xoroshiro128plusFromState(state))
  }

  state(): RngState {
    return [...this.gen.getState()]
  }

  /** Uniform in [0, 1) with 53 bits of randomness. */
  float(): number {
    return uniformFloat64(this.gen)
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    if (!Number.isInteger(n) || n <= 0) throw new RangeError(`Rng.int needs a positive integer, got ${n}`)
    return Math.floor(this.float() * n)
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError('Rng.pick from an empty list')
    return items[this.int(items.length)] as T
  }

  /** Pick an index with probability proportional to its (non-negative) weight. */
  weightedIndex(weights: readonly number[]): number {
    const total = weights.reduce((a, w) => a + Math.max(0, w), 0)
    if (!(total > 0)) return this.int(weights.length)
    let x = this.float() * total
    for (let i = 0; i < weights.length; i++) {
      x -= Math.max(0, weights[i] ?? 0)
      if (x < 0) return i
    }
    return weights.length - 1
  }

  /** Fisher–Yates shuffle into a new array. */
  shuffle<T>(items: readonly T[]): T[] {
    const out = [...items]
    for (let i = out.length - 1; i > 0; i--) {
      const j = this.int(i + 1)
      const tmp = out[i] as T
      out[i] = out[j] as T
      out[j] = tmp
    }
    return out
  }

  /** k distinct items, in random order. */
  sample<T>(items: readonly T[], k: number): T[] {
    return this.shuffle(items).slice(0, Math.max(0, Math.min(k, items.length)))
  }
}
