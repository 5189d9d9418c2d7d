/**
 * @module core/monitor/input-drift
 * Input drift: are new kinds of requests arriving? Each input becomes a MinHash signature of its
 * word shingles (single words and pairs), so two inputs' Jaccard similarity is estimated from 64
 * numbers, without a model or an embedding service. An input is *novel* when no reference input
 * is at least `threshold` similar. The measure is the share of novel inputs among the recent ones
 * against the same share within the reference itself (one half of it against the other), so a task
 * whose inputs are always varied does not read as drifting.
 *
 * Reported beside quality; it alerts on its own only when the monitor is configured to.
 *
 * Pure module: safe to import from workflow code.
 */

export const SIGNATURE_SIZE = 64
export const NOVELTY_THRESHOLD = 0.3

/** 32-bit FNV-1a. */
function fnv(text: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  return h >>> 0
}

/** murmur3's finaliser: one of the k hash functions applied to a token hash. */
function mix(x: number, seed: number): number {
  let h = (x ^ Math.imul(seed, 0x9e3779b1)) >>> 0
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}

function shingles(text: string): number[] {
  const words = text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? []
  const out = new Set<number>()
  for (let i = 0; i < words.length; i++) {
    out.add(fnv(words[i] as string))
    if (i + 1 < words.length) out.add(fnv(`${words[i]} ${words[i + 1]}`))
  }
  return [...out]
}

/** The MinHash signature of a text (all 0xffffffff for a text without words). */
export function signature(text: string): number[] {
  const sig = Array<number>(SIGNATURE_SIZE).fill(0xffffffff)
  for (const s of shingles(text)) {
    for (let i = 0; i < SIGNATURE_SIZE; i++) {
      const v = mix(s, i + 1)
      if (v < (sig[i] as number)) sig[i] = v
    }
  }
  return sig
}

/** Estimated Jaccard similarity of the two texts' shingle sets. */
export function similarity(a: readonly number[], b: readonly number[]): number {
  let same = 0
  for (let i = 0; i < SIGNATURE_SIZE; i++) if (a[i] === b[i]) same++
  return same / SIGNATURE_SIZE
}

function novel(sig: readonly number[], reference: ReadonlyArray<readonly number[]>, threshold: number): boolean {
  for (const r of reference) if (similarity(sig, r) >= threshold) return false
  return true
}

export interface InputDrift {
  /** Share of the reference's second half unlike all of its first half (the task's own variety). */
  referenceNovelShare: number | null
  /** Share of the recent inputs unlike all of the reference's first half. */
  recentNovelShare: number | null
  /** recent − reference; null when either side has no inputs. */
  increase: number | null
  /** Indexes of up to 5 novel recent inputs, as examples for the report. */
  examples: number[]
}

/** Input drift of `recent` inputs against `reference` ones (texts; each list a sample). */
export function inputDrift(
  reference: readonly string[],
  recent: readonly string[],
  threshold = NOVELTY_THRESHOLD,
): InputDrift {
  const base: number[][] = []
  const held: number[][] = []
  reference.forEach((t, i) => (i % 2 === 0 ? base : held).push(signature(t)))
  const referenceNovelShare =
    held.length === 0 || base.length === 0 ? null : held.filter((s) => novel(s, base, threshold)).length / held.length
  const examples: number[] = []
  let novelRecent = 0
  recent.forEach((t, i) => {
    if (base.length > 0 && novel(signature(t), base, threshold)) {
      novelRecent++
      if (examples.length < 5) examples.push(i)
    }
  })
  const recentNovelShare = recent.length === 0 || base.length === 0 ? null : novelRecent / recent.length
  return {
    referenceNovelShare,
    recentNovelShare,
    increase: referenceNovelShare === null || recentNovelShare === null ? null : recentNovelShare - referenceNovelShare,
    examples,
  }
}
