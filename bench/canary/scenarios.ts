/**
 * The benchmark's data: per-request scores of a canary arm and its concurrent baseline.
 * Each canary request i comes with its own group of r baseline requests of the same moment
 * (r = 1 for a 50 % canary, r = 9 for 10 %), exactly how Kaizen pairs live traffic.
 */
import { FastRng } from './random.js'

export interface Sample {
  /** Canary scores in [0, 1] (errors score 0), and error flags. */
  canary: Float64Array
  canaryError: Uint8Array
  /** Baseline scores, r per canary request (request i's group is [i·r, (i+1)·r)). */
  baseline: Float64Array
  baselineError: Uint8Array
  r: number
}

export type Condition = 'null' | 'regression' | 'total-failure'

export interface Scenario {
  name: string
  description: string
  /** Mean baseline score (the operator's expectation, used by the threshold rule). */
  baselineMean: number
  /** Size of the regression the scenario's "regression" condition injects. */
  delta: number
  /** Planning variance of one request's score (for the fixed-horizon test's sample size). */
  variance: number
  /** Levels of a discrete score, if any (Mann–Whitney with ties uses them). */
  levels?: number[]
  /** Draw a score: `worse` for the regressed canary, `shift` for common drift. */
  draw(rng: FastRng, worse: boolean, shift: number): { score: number; error: boolean }
  /** Common drift: both arms move by `shift` from canary sample `at` on. */
  drift?: { at: number; shift: number }
}

const rubricBase = [0.05, 0.05, 0.15, 0.35, 0.4]
const rubricWorse = [0.07, 0.07, 0.18, 0.35, 0.33]
const cumulative = (p: number[]) => p.map((_, i) => p.slice(0, i + 1).reduce((a, b) => a + b, 0))
const rubricBaseCum = cumulative(rubricBase)
const rubricWorseCum = cumulative(rubricWorse)
const rubricLevels = [0, 0.25, 0.5, 0.75, 1]
const rubricMean = rubricBase.reduce((a, p, i) => a + p * (rubricLevels[i] as number), 0)
const rubricVar = rubricBase.reduce((a, p, i) => a + p * ((rubricLevels[i] as number) - rubricMean) ** 2, 0)

const clamp = (x: number) => Math.min(1, Math.max(0, x))

export const SCENARIOS: Scenario[] = [
  {
    name: 'continuous',
    description: 'continuous scores, Beta with mean 0.75 and sd 0.2; regression to 0.70',
    baselineMean: 0.75,
    delta: 0.05,
    variance: 0.04,
    draw: (rng, worse, shift) => ({ score: clamp(rng.beta(worse ? 0.7 : 0.75, 0.2) + shift), error: false }),
  },
  {
    name: 'pass-fail',
    description: 'pass/fail, pass rate 0.80; regression to 0.75',
    baselineMean: 0.8,
    delta: 0.05,
    variance: 0.16,
    levels: [0, 1],
    draw: (rng, worse) => ({ score: rng.float() < (worse ? 0.75 : 0.8) ? 1 : 0, error: false }),
  },
  {
    name: 'rubric-5',
    description: '5-level rubric {0, .25, .5, .75, 1}, mean 0.75; regression to 0.70',
    baselineMean: rubricMean,
    delta: 0.05,
    variance: rubricVar,
    levels: rubricLevels,
    draw: (rng, worse) => ({
      score: rubricLevels[rng.categorical(worse ? rubricWorseCum : rubricBaseCum)] as number,
      error: false,
    }),
  },
  {
    name: 'rare-errors',
    description: 'rare errors: error rate 2 %; regression to 4 % (an errored request scores 0)',
    baselineMean: 0.98,
    delta: 0.02,
    variance: 0.98 * 0.02,
    levels: [0, 1],
    draw: (rng, worse) => {
      const error = rng.float() < (worse ? 0.04 : 0.02)
      return { score: error ? 0 : 1, error }
    },
  },
  {
    name: 'common-drift',
    description: 'continuous scores; both arms drop by 0.05 after 500 canary samples (Δ = 0 throughout in the null)',
    baselineMean: 0.75,
    delta: 0.05,
    variance: 0.04,
    drift: { at: 500, shift: -0.05 },
    draw: (rng, worse, shift) => ({ score: clamp(rng.beta(worse ? 0.7 : 0.75, 0.2) + shift), error: false }),
  },
]

export function generate(scenario: Scenario, condition: Condition, r: number, n: number, rng: FastRng): Sample {
  const s: Sample = {
    canary: new Float64Array(n),
    canaryError: new Uint8Array(n),
    baseline: new Float64Array(n * r),
    baselineError: new Uint8Array(n * r),
    r,
  }
  for (let i = 0; i < n; i++) {
    const shift = scenario.drift && i >= scenario.drift.at ? scenario.drift.shift : 0
    if (condition === 'total-failure') {
      s.canary[i] = 0
      s.canaryError[i] = 1
    } else {
      const c = scenario.draw(rng, condition === 'regression', shift)
      s.canary[i] = c.score
      s.canaryError[i] = c.error ? 1 : 0
    }
    for (let j = 0; j < r; j++) {
      const b = scenario.draw(rng, false, shift)
      s.baseline[i * r + j] = b.score
      s.baselineError[i * r + j] = b.error ? 1 : 0
    }
  }
  return s
}
