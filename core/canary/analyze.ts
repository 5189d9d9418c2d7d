/**
 * @module core/canary/analyze
 * Decide, from graded live requests of two concurrent arms, whether the arm under test must be
 * rolled back, is ready for a human to approve, or needs more data.
 *
 * - Compared only with the concurrent reference arm, request by request (see ./pairing.ts), so
 *   drift common to both arms cancels; never against historical numbers.
 * - Harm tests are one-sided betting e-processes, valid for any number of looks, with the
 *   false-rollback budget split across metrics: quality, error rate, latency ("slower than the
 *   reference more often than 55 %"), cost (dearer than 1.1 × the ratio accepted offline, as a
 *   bounded relative difference).
 * - A hard floor (outside the budget) catches an arm that fails everything.
 * - Readiness is a non-inferiority test on quality with margin m.
 * - Missing data or a skewed split → hold and alert, never rollback. Never promotes.
 *
 * Pure module: safe to import from workflow code.
 */
import {
  adaptiveBets,
  alwaysValidP,
  confidenceSequence,
  harmEProcess,
  readinessEProcess,
  type BetPlan,
  type EProcessTrace,
} from '../stats/eprocess.js'
import { CanaryAnalysisSettings } from '../config.js'
import { pairObservations, qualityOf, type Arm, type Observation } from './pairing.js'

export type { Observation } from './pairing.js'

/**
 * The analysis settings: the type and the defaults come from the schema (core/config.ts), where each setting is
 * described.
 */
export type CanaryAnalysisConfig = CanaryAnalysisSettings

export const DEFAULT_ANALYSIS: CanaryAnalysisConfig = CanaryAnalysisSettings.parse({})

export type Verdict = 'rollback' | 'ready' | 'inconclusive' | 'continue' | 'hold'
export type MetricName = 'quality' | 'error-rate' | 'latency' | 'cost'

export interface MetricEvidence {
  metric: MetricName
  n: number
  /** Mean of the paired observations, in the metric's own units (see docs/canary.md). */
  estimate: number
  harm: EProcessTrace & { threshold: number; pValue: number; alpha: number }
  harmful: boolean
}

export interface ArmSummary {
  requests: number
  graded: number
  ungraded: number
  errors: number
  meanScore: number | null
  meanLatencyMs: number | null
  meanCostUsd: number | null
}

export interface CanaryAnalysis {
  verdict: Verdict
  reasons: string[]
  /** Hold-only problems a human should look at. */
  alerts: string[]
  /** The kinds of those problems (stable across looks, unlike their wording). */
  alertKinds: Array<'sample-ratio' | 'no-reference' | 'no-data'>
  /** The arm under test and its reference (canary vs baseline, or production vs holdback). */
  treatment: Arm
  canary: ArmSummary
  baseline: ArmSummary
  pairedSamples: number
  /** Quality effect (treatment − reference) with an always-valid (1 − alphaInterval) interval. */
  effect: { estimate: number | null; lower: number; upper: number; level: number }
  metrics: MetricEvidence[]
  /** Shortcut to the quality metric (the primary one). */
  quality: MetricEvidence
  errorRate: MetricEvidence
  readiness: EProcessTrace & { threshold: number; margin: number; ready: boolean }
  /** limit: the run length that triggers (null when the reference fails too often for any run to mean anything). */
  hardFloor: { run: number; limit: number | null; triggered: boolean }
  sampleRatio: {
    units: number
    treatmentUnits: number
    expectedShare: number | null
    eValue: number
    mismatch: boolean
  }
}

export interface AnalysisContext {
  /** The clock that stamps the traffic (closes blocks); defaults to the newest observation. */
  now?: number
  /** The arm under test; `canary` unless a bake window tests production against a holdback. */
  treatment?: Arm
  /**
   * Share of units routed to the label (canary) arm over time, for the sample-ratio check (used when requests do not
   * record the weight they were routed with).
   */
  weights?: Array<{ from: number; weight: number }>
}

const mean = (xs: readonly number[]): number | null =>
  xs.length === 0 ? null : xs.reduce((a, b) => a + b, 0) / xs.length

function summarize(xs: readonly Observation[]): ArmSummary {
  const graded = xs.filter((o) => qualityOf(o) !== null)
  return {
    requests: xs.length,
    graded: graded.length,
    ungraded: xs.length - graded.length,
    errors: xs.filter((o) => o.error).length,
    meanScore: mean(graded.map((o) => qualityOf(o) as number)),
    meanLatencyMs: mean(xs.filter((o) => !o.error && o.latencyMs !== null).map((o) => o.latencyMs as number)),
    meanCostUsd: mean(xs.filter((o) => o.costUsd !== null).map((o) => o.costUsd as number)),
  }
}

/**
 * The bets each harm test uses (also used by the benchmark, so it measures what ships): sized for
 * the regression worth catching, adapting to the observed variance of past pairs.
 */
export function harmBets(config: CanaryAnalysisConfig): Record<MetricName, BetPlan> {
  return {
    quality: adaptiveBets(config.delta, config.planningSd ** 2, 0.75),
    'error-rate': adaptiveBets(config.errorDelta, 0.05, 0.75),
    latency: adaptiveBets(0.1, 0.25, 0.75),
    cost: adaptiveBets(0.05, 0.1, 0.75),
  }
}

export function readinessBets(config: CanaryAnalysisConfig): BetPlan {
  return adaptiveBets(config.margin, config.planningSd ** 2, 0.75 / (1 + config.margin))
}

/**
 * Sequential sample-ratio check on routing units: each unit's first request is a Bernoulli draw
 * with the label arm's weight at that time. Two-sided betting e-process; a mismatch means the
 * routing or the data is broken, so the analysis holds instead of deciding.
 */
function sampleRatio(observations: readonly Observation[], weights: AnalysisContext['weights'], alpha: number) {
  const sorted = [...(weights ?? [])].sort((a, b) => a.from - b.from)
  if (sorted.length === 0 && !observations.some((o) => o.routedWeight !== undefined && o.routedWeight !== null)) {
    return { units: 0, treatmentUnits: 0, expectedShare: null, eValue: 1, mismatch: false }
  }
  const weightAt = (o: Observation) => {
    if (o.routedWeight !== undefined && o.routedWeight !== null) return o.routedWeight // what routing actually used
    let w: number | null = null
    for (const s of sorted) if (s.from <= o.at) w = s.weight
    return w
  }
  const seen = new Set<string>()
  const lambdas = [0.05, 0.15, 0.4]
  const up = lambdas.map(() => 0)
  const down = lambdas.map(() => 0)
  let units = 0
  let labelUnits = 0
  let expected = 0
  let eMax = 1
  for (const o of [...observations].sort((a, b) => a.at - b.at)) {
    if (seen.has(o.unit)) continue
    seen.add(o.unit)
    const p = weightAt(o)
    if (p === null || p <= 0 || p >= 1) continue
    const x = o.arm === 'canary' ? 1 : 0
    units++
    labelUnits += x
    expected += p
    let e = 0
    for (let j = 0; j < lambdas.length; j++) {
      const l = lambdas[j] as number
      up[j] = (up[j] as number) + Math.log(1 + Math.min(l, 0.5 / p) * (x - p))
      down[j] = (down[j] as number) + Math.log(1 - Math.min(l, 0.5 / (1 - p)) * (x - p))
      e += (Math.exp(up[j] as number) + Math.exp(down[j] as number)) / (2 * lambdas.length)
    }
    if (e > eMax) eMax = e
  }
  return {
    units,
    treatmentUnits: labelUnits,
    expectedShare: units > 0 ? expected / units : null,
    eValue: eMax,
    mismatch: eMax >= 1 / alpha,
  }
}

/**
 * @example
 * const a = analyzeCanary(observations, DEFAULT_ANALYSIS, { now: Date.now() })
 * if (a.verdict === 'rollback') console.log(a.reasons.join('; '))
 */
export function analyzeCanary(
  observations: readonly Observation[],
  config: CanaryAnalysisConfig = DEFAULT_ANALYSIS,
  context: AnalysisContext = {},
): CanaryAnalysis {
  const treatment: Arm = context.treatment ?? 'canary'
  const reference: Arm = treatment === 'canary' ? 'baseline' : 'canary'
  // What people call the arms: during a bake, production (new) against the holdback (previous).
  const tName = treatment === 'canary' ? 'canary' : 'production'
  const rName = treatment === 'canary' ? 'baseline' : 'holdback'
  const obs = [...observations].sort((a, b) => a.at - b.at)
  const newest = obs.length > 0 ? (obs[obs.length - 1] as Observation).at : 0
  const now = context.now ?? newest
  const treated = obs.filter((o) => o.arm === treatment)
  const referenced = obs.filter((o) => o.arm === reference)

  const paired = pairObservations(obs, { blockMs: config.blockMs, closedBefore: now - config.graceMs, treatment })
  const bets = harmBets(config)
  const metric = (name: MetricName, ds: number[], alpha: number, estimate: number): MetricEvidence => {
    const trace = harmEProcess(ds, bets[name], alpha)
    return {
      metric: name,
      n: ds.length,
      estimate,
      harm: { ...trace, threshold: 1 / alpha, pValue: alwaysValidP(trace), alpha },
      harmful: trace.crossedAt !== null,
    }
  }
  const quality = metric('quality', paired.quality, config.alphaQuality, mean(paired.quality) ?? 0)
  const errorRate = metric('error-rate', paired.errors, config.alphaError, -(mean(paired.errors) ?? 0))
  // Latency: harm when P(treatment slower) > threshold; observations θ0 − 1{slower} (harm ⇔ mean < 0).
  const latency = metric(
    'latency',
    paired.slower.map((u) => config.latencyThreshold - u),
    config.alphaLatency,
    mean(paired.slower) ?? 0,
  )
  // Cost: per pair the bounded relative difference (aR − T) / (aR + T) ∈ [−1, 1], a = (1 + tolerance)
  // × the ratio accepted offline. If the treatment's cost is distributed as s × the reference's with
  // s ≤ a, its mean is ≥ 0 (T and sR are exchangeable, and it grows with a), whatever the tails;
  // a dearer slice of requests pulls it down in proportion to how much dearer, while one huge
  // outlier counts at most −1. In both phases the arm under test is the new version, so the ratio
  // accepted offline applies.
  const allowed = (1 + config.costTolerance) * config.expectedCostRatio
  const costPairs = paired.cost.filter((c) => allowed * c.reference + c.treatment > 0)
  const costRatio = (() => {
    const ref = costPairs.reduce((a, c) => a + c.reference, 0)
    return ref > 0 ? costPairs.reduce((a, c) => a + c.treatment, 0) / ref : 1
  })()
  const cost = metric(
    'cost',
    costPairs.map((c) => (allowed * c.reference - c.treatment) / (allowed * c.reference + c.treatment)),
    config.alphaCost,
    costRatio,
  )
  const metrics = [quality, errorRate, latency, cost]

  const readinessTrace = readinessEProcess(paired.quality, readinessBets(config), config.alphaReady, config.margin)
  const interval = confidenceSequence(paired.quality, config.alphaInterval)

  // Hard floor (outside the α budget): the newest run of consecutive failed treatment requests
  // (errors or a zero score) is long enough that an arm failing as often as the reference would
  // almost never produce it (p_ref^run ≤ 1e-6, and at least hardFloorRun).
  let run = 0
  let runStart = Number.POSITIVE_INFINITY
  for (let i = treated.length - 1; i >= 0; i--) {
    const t = treated[i] as Observation
    const q = qualityOf(t)
    if (q === null) continue
    if (q > 0) break
    run++
    runStart = t.at
  }
  const graded = referenced.map(qualityOf).filter((q): q is number => q !== null)
  const concurrent = referenced
    .filter((o) => o.at >= runStart)
    .map(qualityOf)
    .filter((q): q is number => q !== null)
  const referenceFailing = concurrent.length === 0 ? null : concurrent.filter((q) => q <= 0).length / concurrent.length
  const pRef = (graded.filter((q) => q <= 0).length + 1) / (graded.length + 2)
  const requiredRun =
    pRef >= 0.5 ? Number.POSITIVE_INFINITY : Math.max(config.hardFloorRun, Math.ceil(Math.log(1e-6) / Math.log(pRef)))
  const hardFloor = run >= requiredRun && referenceFailing !== null && referenceFailing < 0.5

  const srm = sampleRatio(obs, context.weights, config.alphaSrm)
  const alerts: string[] = []
  const alertKinds: CanaryAnalysis['alertKinds'] = []
  if (srm.mismatch) {
    alertKinds.push('sample-ratio')
    alerts.push(
      `sample-ratio mismatch: ${srm.treatmentUnits} of ${srm.units} routing units went to the label arm, ` +
        `expected about ${Math.round((srm.expectedShare ?? 0) * 100)}% (e-value ${srm.eValue.toFixed(0)})`,
    )
  }
  if (treated.length > 0 && referenced.length === 0) {
    alertKinds.push('no-reference')
    alerts.push(`no concurrent ${rName} traffic to compare with`)
  }
  const lastTreated = treated.length > 0 ? (treated[treated.length - 1] as Observation).at : null
  if (
    referenced.length > 0 &&
    (lastTreated === null ? now - (obs[0] as Observation).at : now - lastTreated) > config.noDataMs
  ) {
    alertKinds.push('no-data')
    alerts.push(`no ${tName} traffic for ${Math.round(config.noDataMs / 1000)} s`)
  }

  const fmt = (x: number) => x.toFixed(3)
  const reasons: string[] = []
  if (hardFloor) {
    reasons.push(
      `hard floor: the last ${run} graded ${tName} requests all failed (limit ${requiredRun}) while ` +
        `${Math.round((1 - (referenceFailing ?? 0)) * 100)}% of concurrent ${rName} requests succeeded`,
    )
  }
  const describe: Record<MetricName, (m: MetricEvidence) => string> = {
    quality: (m) => `quality regression: ${tName} − ${rName} DQ = ${fmt(m.estimate)} over ${m.n} paired requests`,
    'error-rate': (m) =>
      `error-rate regression: ${tName} error rate is ${fmt(m.estimate)} above ${rName} over ${m.n} requests`,
    latency: (m) =>
      `latency regression: ${tName} slower than ${rName} in ${Math.round(m.estimate * 100)}% of ${m.n} pairs ` +
      `(limit ${Math.round(config.latencyThreshold * 100)}%)`,
    cost: (m) =>
      `cost regression: ${tName} costs ${m.estimate.toFixed(2)}× ${rName} over ${m.n} pairs (allowed ` +
      `${allowed.toFixed(2)}×)`,
  }
  for (const m of metrics) {
    if (m.harmful)
      reasons.push(
        `${describe[m.metric](m)}; e-value ${m.harm.max.toFixed(1)} ≥ ${m.harm.threshold.toFixed(0)} (α = ` +
          `${m.harm.alpha})`,
      )
  }
  const ready = readinessTrace.crossedAt !== null && paired.quality.length >= config.minCanarySamples
  let verdict: Verdict
  if (reasons.length > 0) verdict = 'rollback'
  else if (alerts.length > 0) {
    verdict = 'hold'
    reasons.push(`holding, not deciding: ${alerts.join('; ')}`)
  } else if (ready) {
    verdict = 'ready'
    reasons.push(
      `non-inferior within ${config.margin}: ${tName} − ${rName} DQ = ${fmt(quality.estimate)} ` +
        `[${fmt(interval.lower)}, ${fmt(interval.upper)}] over ${quality.n} paired requests; ` +
        `e-value ${readinessTrace.max.toFixed(1)} ≥ ${(1 / config.alphaReady).toFixed(0)}`,
    )
  } else if (treated.length >= config.maxCanarySamples) {
    verdict = 'inconclusive'
    reasons.push(
      `no decision after ${treated.length} ${tName} requests (maximum ${config.maxCanarySamples}): a human must decide`,
    )
  } else {
    verdict = 'continue'
    reasons.push(`collecting evidence: ${paired.quality.length} paired ${tName} requests so far`)
  }

  return {
    verdict,
    reasons,
    alerts,
    alertKinds,
    treatment,
    canary: summarize(obs.filter((o) => o.arm === 'canary')),
    baseline: summarize(obs.filter((o) => o.arm === 'baseline')),
    pairedSamples: paired.quality.length,
    effect: {
      estimate: mean(paired.quality),
      lower: interval.lower,
      upper: interval.upper,
      level: 1 - config.alphaInterval,
    },
    metrics,
    quality,
    errorRate,
    readiness: { ...readinessTrace, threshold: 1 / config.alphaReady, margin: config.margin, ready },
    hardFloor: { run, limit: Number.isFinite(requiredRun) ? requiredRun : null, triggered: hardFloor },
    sampleRatio: srm,
  }
}
