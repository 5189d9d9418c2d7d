/**
 * @module core/stats/eprocess
 * Always-valid one-sided sequential tests for bounded per-request differences, by betting
 * (Waudby-Smith & Ramdas, "Estimating means of bounded random variables by betting", 2023).
 *
 * Each observation D ∈ [−1, 1] is a canary-minus-baseline difference (higher is better).
 *
 * - Harm test, H0: E[D] ≥ −ε.  E_n = Σ_j w_j Π_i (1 − λ_j (D_i + ε)).
 * - Readiness (non-inferiority), H0: E[D] ≤ −m.  E_n = Σ_j w_j Π_i (1 + λ_j (D_i + m)).
 *
 * Under its null each product is a non-negative supermartingale, so by Ville's inequality
 * P(sup_n E_n ≥ 1/α) ≤ α: the guarantee holds for any number of looks, at any sample size,
 * for any [−1, 1]-valued data. Tuning only affects speed.
 *
 * Pure module: safe to import from workflow code.
 */

export interface Bets {
  lambdas: number[]
  weights: number[]
}

/**
 * Bets that adapt to the data: at each step the growth-optimal bet λ* = gap / (σ̂² + gap²) uses a
 * variance estimate from the *past* observations only (shrunk towards a prior), so the bets are
 * predictable and every guarantee above still holds; the mixture is {½λ*, λ*, 2λ*} with
 * weights {¼, ½, ¼}. Pass/fail, rubric and continuous scores then each get well-sized bets.
 */
export interface AdaptiveBets {
  adaptive: true
  gap: number
  priorVariance: number
  /** Pseudo-observations behind the prior. */
  priorWeight: number
  /** Largest admissible bet. */
  cap: number
}

export type BetPlan = Bets | AdaptiveBets

export function adaptiveBets(gap: number, priorVariance: number, cap: number, priorWeight = 20): AdaptiveBets {
  if (!(gap > 0) || !(priorVariance > 0))
    throw new RangeError(`adaptiveBets needs gap > 0 and priorVariance > 0 (got ${gap}, ${priorVariance})`)
  return { adaptive: true, gap, priorVariance, priorWeight, cap }
}

const MIX_SCALE = [0.5, 1, 2]
const MIX_WEIGHT = [0.25, 0.5, 0.25]

/**
 * The 3-bet mixture {½λ*, λ*, 2λ*} with weights {¼, ½, ¼}, where λ* = g / (σ² + g²) is the
 * growth-optimal bet against an alternative g away from the null and σ² is a planning variance.
 *
 * @param gap distance between the null boundary and the alternative worth detecting (e.g. δ − ε)
 * @param variance planning variance of D (inflate it for rare binary events)
 * @param cap largest admissible bet (keeps every factor ≥ 1 − cap·(1 + shift))
 */
export function mixtureBets(gap: number, variance: number, cap: number): Bets {
  if (!(gap > 0) || !(variance > 0))
    throw new RangeError(`mixtureBets needs gap > 0 and variance > 0 (got ${gap}, ${variance})`)
  const star = gap / (variance + gap * gap)
  return {
    lambdas: [star / 2, star, star * 2].map((l) => Math.min(l, cap)),
    weights: [0.25, 0.5, 0.25],
  }
}

export interface EProcessTrace {
  /** E-value after the last observation. */
  value: number
  /** Largest e-value seen at any time (what continuous monitoring would have acted on). */
  max: number
  /** Observation count at which the e-value first reached the threshold, or null. */
  crossedAt: number | null
  n: number
}

function run(
  ds: readonly number[],
  plan: BetPlan,
  factor: (d: number, lambda: number) => number,
  threshold: number,
): EProcessTrace {
  const adaptive = 'adaptive' in plan
  const weights = adaptive ? MIX_WEIGHT : plan.weights
  const logs = weights.map(() => 0)
  let value = 1
  let max = 1
  let crossedAt: number | null = null
  // Running mean and sum of squared deviations of the past observations (Welford).
  let count = 0
  let runningMean = 0
  let m2 = 0
  for (let i = 0; i < ds.length; i++) {
    const d = Math.max(-1, Math.min(1, ds[i] as number))
    let star = 0
    if (adaptive) {
      const variance = (plan.priorWeight * plan.priorVariance + m2) / (plan.priorWeight + count)
      star = plan.gap / (variance + plan.gap * plan.gap)
    }
    value = 0
    for (let j = 0; j < logs.length; j++) {
      const lambda = adaptive ? Math.min(star * (MIX_SCALE[j] as number), plan.cap) : (plan.lambdas[j] as number)
      logs[j] = (logs[j] as number) + Math.log(Math.max(factor(d, lambda), 1e-300))
      value += (weights[j] as number) * Math.exp(logs[j] as number)
    }
    if (value > max) max = value
    if (crossedAt === null && value >= threshold) crossedAt = i + 1
    count++
    const delta = d - runningMean
    runningMean += delta / count
    m2 += delta * (d - runningMean)
  }
  return { value, max, crossedAt, n: ds.length }
}

/**
 * Harm e-process: evidence that the canary is worse than the baseline by more than `tolerance`.
 * Reject (roll back) once `max ≥ 1/alpha`.
 */
export function harmEProcess(ds: readonly number[], bets: BetPlan, alpha: number, tolerance = 0): EProcessTrace {
  return run(ds, bets, (d, l) => 1 - l * (d + tolerance), 1 / alpha)
}

/**
 * Readiness e-process: evidence that the canary is no worse than the baseline by `margin` or more.
 * Reject H0 (ask a human) once `max ≥ 1/alpha`.
 */
export function readinessEProcess(ds: readonly number[], bets: BetPlan, alpha: number, margin: number): EProcessTrace {
  return run(ds, bets, (d, l) => 1 + l * (d + margin), 1 / alpha)
}

/** Always-valid p-value from an e-process trace. */
export function alwaysValidP(trace: EProcessTrace): number {
  return Math.min(1, 1 / Math.max(trace.max, 1e-300))
}

/**
 * An always-valid (1 − alpha) confidence interval for the mean of [−1, 1]-valued observations:
 * every θ on a grid (step 0.005) whose two one-sided betting tests (each at alpha/2, over the
 * whole sequence) do not reject, widened by one grid step so that no value between grid points is
 * excluded. Valid at any stopping time.
 */
export function confidenceSequence(ds: readonly number[], alpha: number): { lower: number; upper: number } {
  if (ds.length === 0) return { lower: -1, upper: 1 }
  const lambdas = [0.05, 0.1, 0.2, 0.4, 0.75]
  const weight = 1 / lambdas.length
  const threshold = 2 / alpha
  const rejects = (theta: number, side: 1 | -1): boolean => {
    const cap = 0.75 / (1 + Math.abs(theta))
    const logs = lambdas.map(() => 0)
    for (const raw of ds) {
      const d = Math.max(-1, Math.min(1, raw)) - theta
      let e = 0
      for (let j = 0; j < lambdas.length; j++) {
        logs[j] = (logs[j] as number) + Math.log(Math.max(1 + side * Math.min(lambdas[j] as number, cap) * d, 1e-300))
        e += weight * Math.exp(logs[j] as number)
      }
      if (e >= threshold) return true
    }
    return false
  }
  const step = 0.005
  let lower = -1
  while (lower < 1 && rejects(lower, 1)) lower = Math.round((lower + step) * 1000) / 1000
  let upper = 1
  while (upper > lower && rejects(upper, -1)) upper = Math.round((upper - step) * 1000) / 1000
  return { lower: Math.max(-1, lower - step), upper: Math.min(1, upper + step) }
}
