/**
 * @module core/canary/analyze
 * Decide, from graded live requests of both arms, whether a canary must be rolled back, is ready
 * for a human to approve, or needs more data.
 *
 * - Compared only with the **concurrent** baseline: each canary request is paired with the mean of
 *   its own disjoint group of baseline requests from the same time block, so drift common to both
 *   arms cancels and the pairs stay independent.
 * - Only closed blocks are used, so past pairs never change between looks and the e-processes
 *   keep their any-number-of-looks guarantee.
 * - Harm tests (quality, error rate) split the false-rollback budget; readiness is a
 *   non-inferiority test with margin m. A hard floor catches a candidate that fails everything.
 * - Never promotes: the best outcome is `ready`, which asks a human.
 *
 * Pure module: safe to import from workflow code.
 */
import { alwaysValidP, harmEProcess, mixtureBets, readinessEProcess, type EProcessTrace } from '../stats/eprocess.js'

export interface Observation {
  arm: 'baseline' | 'canary'
  /** Arrival time, ms since epoch. */
  at: number
  /** DQ score in [0, 1]; null when the grader could not score it (excluded, counted). */
  score: number | null
  /** The request failed (no usable output). */
  error: boolean
}

export interface CanaryAnalysisConfig {
  /** Width of a pairing block in ms. */
  blockMs: number
  /** A block is used once it ended at least this long before the newest observation. */
  graceMs: number
  alphaQuality: number
  alphaError: number
  alphaReady: number
  /** Non-inferiority margin for readiness. */
  margin: number
  /** Regression size the harm bets are tuned for. */
  delta: number
  /** Planning standard deviation of a paired quality difference. */
  planningSd: number
  /** Canary requests needed before `ready` may be declared. */
  minCanarySamples: number
  /** Canary requests after which an undecided canary is `inconclusive` (hold for a human). */
  maxCanarySamples: number
  /** Consecutive failed canary requests that trigger the hard floor. */
  hardFloorRun: number
}

export const DEFAULT_ANALYSIS: CanaryAnalysisConfig = {
  blockMs: 2_000,
  graceMs: 500,
  alphaQuality: 0.025,
  alphaError: 0.0125,
  alphaReady: 0.05,
  margin: 0.05,
  delta: 0.05,
  planningSd: 0.3,
  minCanarySamples: 60,
  maxCanarySamples: 2_000,
  hardFloorRun: 10,
}

export type Verdict = 'rollback' | 'ready' | 'inconclusive' | 'continue' | 'hold'

export interface MetricEvidence {
  metric: 'quality' | 'error-rate'
  n: number
  meanDelta: number
  harm: EProcessTrace & { threshold: number; pValue: number }
  harmful: boolean
}

export interface CanaryAnalysis {
  verdict: Verdict
  reasons: string[]
  canary: { requests: number; graded: number; ungraded: number; errors: number; meanScore: number | null }
  baseline: { requests: number; graded: number; ungraded: number; errors: number; meanScore: number | null }
  pairedSamples: number
  quality: MetricEvidence
  errorRate: MetricEvidence
  readiness: EProcessTrace & { threshold: number; margin: number; ready: boolean }
  hardFloor: { run: number; limit: number; triggered: boolean }
}

const mean = (xs: readonly number[]): number | null => (xs.length === 0 ? null : xs.reduce((a, b) => a + b, 0) / xs.length)

/** Quality of a request for analysis: an errored request produced no decision, so it scores 0. */
const qualityOf = (o: Observation): number | null => (o.error ? 0 : o.score)

/**
 * @example
 * const a = analyzeCanary(observations, DEFAULT_ANALYSIS)
 * if (a.verdict === 'rollback') console.log(a.reasons.join('; '))
 */
export function analyzeCanary(observations: readonly Observation[], config: CanaryAnalysisConfig = DEFAULT_ANALYSIS, now?: number): CanaryAnalysis {
  const obs = [...observations].sort((a, b) => a.at - b.at)
  const canaryAll = obs.filter((o) => o.arm === 'canary')
  const baselineAll = obs.filter((o) => o.arm === 'baseline')
  const summary = (xs: Observation[]) => {
    const graded = xs.filter((o) => qualityOf(o) !== null)
    return {
      requests: xs.length,
      graded: graded.length,
      ungraded: xs.length - graded.length,
      errors: xs.filter((o) => o.error).length,
      meanScore: mean(graded.map((o) => qualityOf(o) as number)),
    }
  }

  // A block is closed once it ended `graceMs` before now (by the clock that stamps the traffic;
  // without one, the newest observation stands in).
  const newest = obs.length > 0 ? (obs[obs.length - 1] as Observation).at : 0
  const origin = obs.length > 0 ? (obs[0] as Observation).at : 0
  const closedBefore = (now ?? newest) - config.graceMs
  const blocks = new Map<number, { base: Observation[]; canary: Observation[] }>()
  for (const o of obs) {
    const b = Math.floor((o.at - origin) / config.blockMs)
    if (origin + (b + 1) * config.blockMs > closedBefore) continue // block still open
    let block = blocks.get(b)
    if (!block) blocks.set(b, (block = { base: [], canary: [] }))
    ;(o.arm === 'baseline' ? block.base : block.canary).push(o)
  }
  // Each canary request gets its own disjoint group of baseline requests from the same block
  // (contiguous in arrival order). Sharing one block mean between several canary requests would
  // correlate their differences and break the e-processes' martingale property.
  const qualityD: number[] = []
  const errorD: number[] = []
  for (const b of [...blocks.keys()].sort((x, y) => x - y)) {
    const block = blocks.get(b) as { base: Observation[]; canary: Observation[] }
    const nc = block.canary.length
    const nb = block.base.length
    if (nc === 0 || nb === 0) continue
    const paired = Math.min(nc, nb)
    const per = Math.floor(nb / paired)
    const extra = nb - per * paired
    let next = 0
    for (let i = 0; i < paired; i++) {
      const size = per + (i < extra ? 1 : 0)
      const group = block.base.slice(next, next + size)
      next += size
      const c = block.canary[i] as Observation
      const baseQ = mean(group.map(qualityOf).filter((q): q is number => q !== null))
      const q = qualityOf(c)
      if (q !== null && baseQ !== null) qualityD.push(q - baseQ)
      errorD.push((mean(group.map((o) => (o.error ? 1 : 0))) as number) - (c.error ? 1 : 0))
    }
  }

  const qBets = mixtureBets(config.delta, config.planningSd ** 2, 0.75)
  // Error events are rare and binary: plan with a generous variance (see docs/canary.md).
  const eBets = mixtureBets(config.delta, 0.1, 0.75)
  const metric = (name: MetricEvidence['metric'], ds: number[], alpha: number, bets: typeof qBets): MetricEvidence => {
    const trace = harmEProcess(ds, bets, alpha)
    return {
      metric: name,
      n: ds.length,
      meanDelta: mean(ds) ?? 0,
      harm: { ...trace, threshold: 1 / alpha, pValue: alwaysValidP(trace) },
      harmful: trace.crossedAt !== null,
    }
  }
  const quality = metric('quality', qualityD, config.alphaQuality, qBets)
  const errorRate = metric('error-rate', errorD, config.alphaError, eBets)
  const rBets = mixtureBets(config.margin, config.planningSd ** 2, 0.75 / (1 + config.margin))
  const readinessTrace = readinessEProcess(qualityD, rBets, config.alphaReady, config.margin)

  // Hard floor (outside the α budget): the newest run of consecutive failed canary requests
  // (errors or a zero score), while most concurrent baseline requests did not fail.
  let run = 0
  let runStart = Number.POSITIVE_INFINITY
  for (let i = canaryAll.length - 1; i >= 0; i--) {
    const c = canaryAll[i] as Observation
    const q = qualityOf(c)
    if (q === null) continue
    if (q > 0) break
    run++
    runStart = c.at
  }
  const concurrent = baselineAll.filter((o) => o.at >= runStart).map(qualityOf).filter((q): q is number => q !== null)
  const baselineFailing = concurrent.length === 0 ? null : concurrent.filter((q) => q <= 0).length / concurrent.length
  const hardFloorTriggered = run >= config.hardFloorRun && baselineFailing !== null && baselineFailing < 0.5

  const reasons: string[] = []
  let verdict: Verdict = 'continue'
  const fmt = (x: number) => x.toFixed(3)
  if (hardFloorTriggered) {
    reasons.push(
      `hard floor: the last ${run} graded canary requests all failed (limit ${config.hardFloorRun}) while ${Math.round((1 - (baselineFailing ?? 0)) * 100)}% of concurrent baseline requests succeeded`,
    )
  }
  if (quality.harmful) {
    reasons.push(
      `quality regression: canary − baseline = ${fmt(quality.meanDelta)} over ${quality.n} paired requests; ` +
        `e-value ${quality.harm.max.toFixed(1)} ≥ ${quality.harm.threshold.toFixed(0)} (α = ${config.alphaQuality})`,
    )
  }
  if (errorRate.harmful) {
    reasons.push(
      `error-rate regression: baseline − canary error rate = ${fmt(errorRate.meanDelta)} over ${errorRate.n} requests; ` +
        `e-value ${errorRate.harm.max.toFixed(1)} ≥ ${errorRate.harm.threshold.toFixed(0)} (α = ${config.alphaError})`,
    )
  }
  const ready = readinessTrace.crossedAt !== null && qualityD.length >= config.minCanarySamples
  if (reasons.length > 0) verdict = 'rollback'
  else if (canaryAll.length > 0 && baselineAll.length === 0) {
    verdict = 'hold'
    reasons.push('no concurrent baseline traffic to compare with: holding, not rolling back')
  } else if (ready) {
    verdict = 'ready'
    reasons.push(
      `non-inferior within ${config.margin}: canary − baseline = ${fmt(quality.meanDelta)} over ${quality.n} paired requests; ` +
        `e-value ${readinessTrace.max.toFixed(1)} ≥ ${(1 / config.alphaReady).toFixed(0)}`,
    )
  } else if (canaryAll.length >= config.maxCanarySamples) {
    verdict = 'inconclusive'
    reasons.push(`no decision after ${canaryAll.length} canary requests (maximum ${config.maxCanarySamples}): a human must decide`)
  } else {
    reasons.push(`collecting evidence: ${qualityD.length} paired canary requests so far`)
  }

  return {
    verdict,
    reasons,
    canary: summary(canaryAll),
    baseline: summary(baselineAll),
    pairedSamples: qualityD.length,
    quality,
    errorRate,
    readiness: { ...readinessTrace, threshold: 1 / config.alphaReady, margin: config.margin, ready },
    hardFloor: { run, limit: config.hardFloorRun, triggered: hardFloorTriggered },
  }
}
