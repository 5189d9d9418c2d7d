/**
 * @module core/agility
 * Model agility: what a campaign over (model, parameters, prompt) pairs optimises, the Pareto
 * front of its finalists on the holdout (quality × cost × latency, with intervals; one or more per
 * model, `search.finalistsPerModel`), and the decision rule that says which pair, if any, ships
 * against production.
 *
 * Objectives (docs/model-agility.md):
 * - `best-quality`: the best quality among pairs within a cost per 1,000 requests (and latency)
 *   limit; ships when significantly better than production, or, when production itself breaks the
 *   limit, when non-inferior to it;
 * - `cheapest`: the cheapest pair whose quality is non-inferior to production's within `margin`,
 *   and cheaper than production;
 * - `migrate`: one target model; its best prompt ships when non-inferior to production within
 *   `margin` and within the cost and latency limits, if any.
 *
 * Non-inferiority is the paired test of core/stats/paired on the finalist's scores plus the margin
 * (H0: mean(finalist − production) ≤ −margin), at α divided by the number of finalists tested
 * (Bonferroni), so trying several models does not inflate the chance of shipping a worse one.
 *
 * Pure module: no I/O.
 */
import { z } from 'zod'
import { pairedTest, type PairedTestResult } from './stats/paired.js'

const Limits = {
  /** Most dollars per 1,000 requests a shipped pair may cost (estimated on the holdout). */
  maxCostPer1k: z.number().positive().optional(),
  /** Highest mean latency a shipped pair may have, in milliseconds (estimated on the holdout). */
  maxLatencyMs: z.number().positive().optional(),
}
/** Non-inferiority margin: how much lower than production's the mean quality (0–1) may be. */
const Margin = z.number().min(0).max(0.5).default(0.02)

/** Strict: an unknown key (a mistyped limit) is refused, not ignored. */
export const AgilityObjective = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('best-quality'), ...Limits, margin: Margin }),
  z.strictObject({ kind: z.literal('cheapest'), ...Limits, margin: Margin }),
  z.strictObject({ kind: z.literal('migrate'), ...Limits, margin: Margin, toModel: z.string().min(1) }),
])
export type AgilityObjective = z.infer<typeof AgilityObjective>

/** One pair measured on the holdout items (scores in the same item order for every pair). */
export interface PairMeasure {
  /** Candidate id of the prompt version. */
  id: string
  model: string
  /** Quality per holdout item (null: the grader could not score it). */
  scores: ReadonlyArray<number | null>
  /** Mean dollars per request and mean latency on the holdout. */
  costPerRequest: number
  latencyMs: number
}

export interface FrontPoint {
  id: string
  model: string
  quality: number
  /** 95 % interval of the mean quality (normal approximation on the items). */
  qualityInterval: [number, number]
  costPer1k: number
  latencyMs: number
  /** On the Pareto front: no other pair is at least as good on all three and better on one. */
  onFront: boolean
}

const finite = (xs: ReadonlyArray<number | null>) => xs.filter((x): x is number => x !== null && Number.isFinite(x))

const mean = (xs: readonly number[]) => (xs.length === 0 ? 0 : xs.reduce((a, b) => a + b, 0) / xs.length)

/** The mean and the half-width of its 95 % interval (normal approximation; 0 for fewer than two). */
function meanWithin(xs: readonly number[]): { m: number; h: number } {
  const m = mean(xs)
  const v = xs.length > 1 ? xs.reduce((a, b) => a + (b - m) ** 2, 0) / (xs.length - 1) : 0
  return { m, h: 1.96 * Math.sqrt(v / Math.max(1, xs.length)) }
}

/** 95 % interval of a mean quality, within 0–1. */
function interval(xs: readonly number[]): [number, number] {
  if (xs.length === 0) return [0, 0]
  const { m, h } = meanWithin(xs)
  return [Math.max(0, m - h), Math.min(1, m + h)]
}

/** Every pair's point, and which are on the quality × cost × latency front. */
export function paretoFront(pairs: readonly PairMeasure[]): FrontPoint[] {
  const points = pairs.map((p) => {
    const xs = finite(p.scores)
    const quality = mean(xs)
    return {
      id: p.id,
      model: p.model,
      quality,
      qualityInterval: interval(xs),
      costPer1k: p.costPerRequest * 1000,
      latencyMs: p.latencyMs,
      onFront: true,
    }
  })
  for (const a of points)
    a.onFront = !points.some(
      (b) =>
        b !== a &&
        b.quality >= a.quality &&
        b.costPer1k <= a.costPer1k &&
        b.latencyMs <= a.latencyMs &&
        (b.quality > a.quality || b.costPer1k < a.costPer1k || b.latencyMs < a.latencyMs),
    )
  return points
}

/** Paired scores of two pairs on the items both could be scored on. */
function paired(a: PairMeasure, b: PairMeasure): { a: number[]; b: number[] } {
  if (a.scores.length !== b.scores.length)
    throw new RangeError(`pairs ${a.id} and ${b.id} were measured on ${a.scores.length} and ${b.scores.length} items`)
  const out = { a: [] as number[], b: [] as number[] }
  a.scores.forEach((x, i) => {
    const y = b.scores[i]
    if (x !== null && y !== null && y !== undefined) {
      out.a.push(x)
      out.b.push(y)
    }
  })
  return out
}

/** Is `candidate` non-inferior to `baseline` within `margin` (one-sided, level alpha)? */
export function nonInferiority(
  baseline: PairMeasure,
  candidate: PairMeasure,
  options: { margin: number; alpha?: number; seed?: string; resamples?: number },
): PairedTestResult {
  const { a, b } = paired(baseline, candidate)
  return pairedTest(
    a,
    b.map((x) => x + options.margin),
    {
      alpha: options.alpha ?? 0.05,
      seed: options.seed ?? `non-inferiority:${candidate.id}`,
      ...(options.resamples === undefined ? {} : { resamples: options.resamples }),
    },
  )
}

export interface PairVerdict {
  id: string
  model: string
  quality: number
  costPer1k: number
  latencyMs: number
  withinLimits: boolean
  /** Non-inferior to production within the margin (null: not tested, e.g. production itself). */
  nonInferior: boolean | null
  /** Significantly better than production (best-quality only; null: not tested). */
  superior: boolean | null
  /** The lower confidence bound of mean(pair − production). */
  lowerBound: number | null
  reasons: string[]
}

export interface AgilityDecision {
  /** The pair that ships (a finalist's id), or null: production stays. */
  ship: string | null
  reason: string
  verdicts: PairVerdict[]
  front: FrontPoint[]
}

/**
 * A migration's drop, measured on the holdout: production's prompt, unchanged, on the target model
 * against production, and how much of that the re-optimized prompt won back.
 */
export interface MigrationDrop {
  /** Candidate id of production's prompt on the target model (the search's `switch-model` root). */
  id: string
  model: string
  /** Holdout quality of that pair, and of production, on the items both were scored on. */
  quality: number
  productionQuality: number
  /** mean(unchanged − production) over those items (negative: a drop), with its 95 % interval. */
  difference: number
  interval: [number, number]
  n: number
  /**
   * Share of the drop the finalist wins back on the same items: (finalist − unchanged) /
   * (production − unchanged); null without a finalist or when the unchanged prompt does not drop.
   */
  recovered: number | null
}

/** The drop of `unchanged` (production's prompt on the target model) and what `finalist` wins back of it. */
export function migrationDrop(
  production: PairMeasure,
  unchanged: PairMeasure,
  finalist: PairMeasure | null,
): MigrationDrop {
  const both = paired(production, unchanged)
  const diffs = both.b.map((x, i) => x - (both.a[i] as number))
  const { m: difference, h } = meanWithin(diffs)
  let recovered: number | null = null
  if (finalist && difference < 0) {
    // On the items all three were scored on, so the share compares like with like.
    const items = production.scores.flatMap((p, i) => {
      const u = unchanged.scores[i]
      const f = finalist.scores[i]
      return p !== null && u != null && f != null ? [[p, u, f] as const] : []
    })
    const gap = mean(items.map(([p, u]) => p - u))
    if (gap > 0) recovered = mean(items.map(([, u, f]) => f - u)) / gap
  }
  return {
    id: unchanged.id,
    model: unchanged.model,
    quality: mean(both.b),
    productionQuality: mean(both.a),
    difference,
    interval: [difference - h, difference + h],
    n: diffs.length,
    recovered,
  }
}

/** A migration's drop on the holdout, and the share of it the re-optimized prompt won back. */
export function describeDrop(d: MigrationDrop): string {
  const signed = (x: number) => `${x >= 0 ? '+' : '−'}${Math.abs(x).toFixed(3)}`
  const won =
    d.recovered === null
      ? d.difference >= 0
        ? '; no drop to win back'
        : ''
      : `; the re-optimized prompt wins back ${Math.round(d.recovered * 100)} % of it`
  return (
    `Migration drop on the holdout: production's prompt unchanged on ${d.model} scores ${d.quality.toFixed(3)} ` +
    `against production's ${d.productionQuality.toFixed(3)}, ${signed(d.difference)} (95 % interval ` +
    `${signed(d.interval[0])} to ${signed(d.interval[1])}, ${d.n} items)${won}`
  )
}

/** Best holdout quality first; the cheaper first among equals. */
const byQuality = (vs: readonly PairVerdict[]) =>
  [...vs].sort((a, b) => b.quality - a.quality || a.costPer1k - b.costPer1k)

/**
 * The finalist a migration reports its recovery with: the target model's finalist that ships, or
 * else the best of the target model's finalists on the holdout (null: none on it).
 */
export function migrationFinalist(decision: AgilityDecision, toModel: string): string | null {
  const shipped = decision.verdicts.find((v) => v.id === decision.ship && v.model === toModel)
  return (shipped ?? byQuality(decision.verdicts.filter((v) => v.model === toModel))[0])?.id ?? null
}

/** A finalist's verdict in words: why it does not qualify, or that it does (and whether the objective chose it). */
export const describeVerdict = (v: PairVerdict, chosen: string | null | undefined) =>
  v.reasons.length > 0 ? v.reasons.join('; ') : v.id === chosen ? 'qualifies, chosen' : 'qualifies'

/** Dollars as people read them: four decimals under 10 cents, else two. */
export const formatUsd = (x: number) => `$${x < 0.1 ? x.toFixed(4) : x.toFixed(2)}`

/**
 * Decide which finalist ships. `production` is the current pair measured on the same holdout items;
 * `finalists` are the best-ranked prompts per candidate model, one or more each
 * (`search.finalistsPerModel`; production's own model may be among them).
 *
 * α is divided (Bonferroni) among the finalists the objective could ship by what is known before
 * any quality test — within the cost and latency limits, and for `cheapest` cheaper than production,
 * for a migration on the target model: a finalist that cannot ship cannot ship a worse pair, so
 * testing it spends none of the chance of a regression.
 */
export function decideAgility(
  objective: AgilityObjective,
  production: PairMeasure,
  finalists: readonly PairMeasure[],
  options: { alpha?: number; seed?: string; resamples?: number } = {},
): AgilityDecision {
  const front = paretoFront([production, ...finalists])
  const point = (id: string) => front.find((p) => p.id === id) as FrontPoint
  const prod = point(production.id)
  const within = (p: FrontPoint) =>
    (objective.maxCostPer1k === undefined || p.costPer1k <= objective.maxCostPer1k + 1e-12) &&
    (objective.maxLatencyMs === undefined || p.latencyMs <= objective.maxLatencyMs)
  const mayShip = (f: PairMeasure) => {
    const p = point(f.id)
    if (!within(p)) return false
    if (objective.kind === 'cheapest') return p.costPer1k < prod.costPer1k - 1e-12
    if (objective.kind === 'migrate') return f.model === objective.toModel
    return true
  }
  const alpha = (options.alpha ?? 0.05) / Math.max(1, finalists.filter(mayShip).length)
  const limitReasons = (p: FrontPoint) => [
    ...(objective.maxCostPer1k !== undefined && p.costPer1k > objective.maxCostPer1k + 1e-12
      ? [`costs ${formatUsd(p.costPer1k)} per 1,000 requests, over the limit of ${formatUsd(objective.maxCostPer1k)}`]
      : []),
    ...(objective.maxLatencyMs !== undefined && p.latencyMs > objective.maxLatencyMs
      ? [`mean latency ${Math.round(p.latencyMs)} ms, over the limit of ${objective.maxLatencyMs} ms`]
      : []),
  ]
  const verdicts: PairVerdict[] = finalists.map((f, i) => {
    const p = point(f.id)
    const ni = nonInferiority(production, f, {
      margin: objective.margin,
      alpha,
      seed: `${options.seed ?? 'agility'}:ni:${i}`,
      ...(options.resamples === undefined ? {} : { resamples: options.resamples }),
    })
    const both = paired(production, f)
    const sup =
      objective.kind === 'best-quality'
        ? pairedTest(both.a, both.b, {
            alpha,
            seed: `${options.seed ?? 'agility'}:sup:${i}`,
            ...(options.resamples === undefined ? {} : { resamples: options.resamples }),
          })
        : null
    const reasons = limitReasons(p)
    if (!ni.significant)
      reasons.push(
        `not shown non-inferior to production within ${objective.margin} (mean difference ` +
          `${ni.meanDelta - objective.margin >= 0 ? '+' : ''}${(ni.meanDelta - objective.margin).toFixed(3)}, ` +
          `lower bound ${(ni.lowerBound - objective.margin).toFixed(3)}, p = ${ni.pValue.toFixed(3)})`,
      )
    return {
      id: f.id,
      model: f.model,
      quality: p.quality,
      costPer1k: p.costPer1k,
      latencyMs: p.latencyMs,
      withinLimits: within(p),
      nonInferior: ni.significant,
      superior: sup ? sup.significant : null,
      lowerBound: ni.lowerBound - objective.margin,
      reasons,
    }
  })
  const eligible = verdicts.filter((v) => v.withinLimits && v.nonInferior)
  const none = (reason: string): AgilityDecision => ({ ship: null, reason, verdicts, front })
  const describe = (v: PairVerdict) =>
    `${v.model} (${v.id}): quality ${v.quality.toFixed(3)} vs production ${prod.quality.toFixed(3)}, ` +
    `${formatUsd(v.costPer1k)} vs ${formatUsd(prod.costPer1k)} per 1,000 requests, ` +
    `${Math.round(v.latencyMs)} vs ${Math.round(prod.latencyMs)} ms`

  if (objective.kind === 'cheapest') {
    const cheaper = eligible.filter((v) => v.costPer1k < prod.costPer1k - 1e-12)
    if (cheaper.length === 0)
      return none(
        eligible.length === 0
          ? 'no finalist is non-inferior to production within the limits'
          : 'no non-inferior finalist is cheaper than production',
      )
    const best = [...cheaper].sort((a, b) => a.costPer1k - b.costPer1k || b.quality - a.quality)[0] as PairVerdict
    return {
      ship: best.id,
      reason: `cheapest non-inferior pair: ${describe(best)}`,
      verdicts,
      front,
    }
  }
  if (objective.kind === 'migrate') {
    // Several finalists on the target model (search.finalistsPerModel): the best on the holdout
    // among those that qualify ships.
    const targets = byQuality(verdicts.filter((v) => v.model === objective.toModel))
    const first = targets[0]
    if (!first) return none(`no finalist on ${objective.toModel}`)
    const n = targets.length
    const best = targets.find((v) => v.withinLimits && v.nonInferior)
    if (!best)
      return none(
        `${objective.toModel} does not qualify: ` +
          `${n > 1 ? `none of its ${n} finalists does; the best on the holdout: ` : ''}${first.reasons.join('; ')}`,
      )
    const which = best === first ? 'the best on the holdout' : 'the best that qualifies'
    const of = n > 1 ? ` (${which} of ${n} finalists on it)` : ''
    return { ship: best.id, reason: `migration qualifies: ${describe(best)}${of}`, verdicts, front }
  }
  // best-quality
  const prodWithin = within(prod)
  const better = eligible.filter((v) => v.superior || !prodWithin)
  if (better.length === 0)
    return none(
      prodWithin
        ? 'no finalist within the limits is significantly better than production'
        : 'production breaks the limits and no finalist within them is non-inferior to it',
    )
  const best = byQuality(better)[0] as PairVerdict
  return {
    ship: best.id,
    reason: `${prodWithin ? 'best quality within the limits' : 'production breaks the limits'}: ${describe(best)}`,
    verdicts,
    front,
  }
}
