/**
 * @module core/stats/paired
 * The holdout gate: is the candidate better than the baseline on the same items?
 *
 * A one-sided paired sign-flip permutation test on per-item differences (exact enumeration for
 * n ≤ 16, otherwise a seeded Monte-Carlo of sign flips), plus a percentile-bootstrap lower
 * confidence bound on the mean difference. Both are distribution-free, so bounded, discrete and
 * skewed DQ scores need no normality assumption, and both are deterministic given the seed.
 *
 * Pure module: safe to import from workflow code.
 */
import { Rng } from '../rng.js'

export interface PairedTestOptions {
  /** One-sided significance level. */
  alpha?: number
  /** The candidate must also beat the baseline by at least this much on average. */
  minEffect?: number
  /** Monte-Carlo resamples for the permutation test and the bootstrap. */
  resamples?: number
  seed?: string
}

export interface PairedTestResult {
  method: 'paired sign-flip permutation test (one-sided) + bootstrap lower bound'
  n: number
  meanBaseline: number
  meanCandidate: number
  meanDelta: number
  /** Lower (1 − alpha) bootstrap confidence bound on the mean difference. */
  lowerBound: number
  pValue: number
  alpha: number
  minEffect: number
  /** Items where the candidate scored higher / lower / the same. */
  wins: number
  losses: number
  ties: number
  significant: boolean
}

const mean = (xs: readonly number[]): number => (xs.length === 0 ? 0 : xs.reduce((a, b) => a + b, 0) / xs.length)

/**
 * @example
 * pairedTest([0.4, 0.5, 0.6], [0.8, 0.9, 0.7]).pValue // small when the candidate wins everywhere
 */
export function pairedTest(
  baseline: readonly number[],
  candidate: readonly number[],
  options: PairedTestOptions = {},
): PairedTestResult {
  if (baseline.length !== candidate.length) {
    throw new RangeError(
      `pairedTest needs paired samples: ${baseline.length} baseline vs ${candidate.length} candidate scores`,
    )
  }
  const alpha = options.alpha ?? 0.05
  const minEffect = options.minEffect ?? 0
  const resamples = options.resamples ?? 20_000
  const rng = Rng.fromSeed(options.seed ?? 'paired-test')
  const n = baseline.length
  const deltas = baseline.map((b, i) => (candidate[i] as number) - b)
  const observed = mean(deltas)
  let wins = 0
  let losses = 0
  for (const d of deltas) {
    if (d > 1e-12) wins++
    else if (d < -1e-12) losses++
  }
  const base = {
    method: 'paired sign-flip permutation test (one-sided) + bootstrap lower bound' as const,
    n,
    meanBaseline: mean(baseline),
    meanCandidate: mean(candidate),
    meanDelta: observed,
    alpha,
    minEffect,
    wins,
    losses,
    ties: n - wins - losses,
  }
  if (n === 0) return { ...base, lowerBound: Number.NEGATIVE_INFINITY, pValue: 1, significant: false }

  // Permutation p-value: P(mean of randomly sign-flipped deltas ≥ observed) under H0 of no difference.
  const abs = deltas.map(Math.abs)
  let atLeast = 0
  let total = 0
  const eps = 1e-12
  if (n <= 16) {
    for (let mask = 0; mask < 1 << n; mask++) {
      let s = 0
      for (let i = 0; i < n; i++) s += mask & (1 << i) ? (abs[i] as number) : -(abs[i] as number)
      if (s / n >= observed - eps) atLeast++
      total++
    }
  } else {
    for (let r = 0; r < resamples; r++) {
      let s = 0
      for (let i = 0; i < n; i++) s += rng.float() < 0.5 ? (abs[i] as number) : -(abs[i] as number)
      if (s / n >= observed - eps) atLeast++
    }
    // +1 in numerator and denominator: the observed arrangement is one of the permutations.
    atLeast += 1
    total = resamples + 1
  }
  const pValue = atLeast / total

  // Bootstrap lower bound on the mean difference.
  const boot: number[] = []
  for (let r = 0; r < Math.min(resamples, 10_000); r++) {
    let s = 0
    for (let i = 0; i < n; i++) s += deltas[rng.int(n)] as number
    boot.push(s / n)
  }
  boot.sort((a, b) => a - b)
  const lowerBound = boot[Math.max(0, Math.floor(alpha * boot.length) - 1)] ?? observed

  return { ...base, lowerBound, pValue, significant: pValue < alpha && observed > minEffect && lowerBound > 0 }
}
