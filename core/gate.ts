/**
 * @module core/gate
 * The holdout gate: the one decision between a search and a canary. The finalist and the baseline
 * were run on the holdout (touched once, by the finalist) and compared item by item
 * (core/stats/paired.ts); the golden set and the safety checks were compared on the same items
 * (core/ship.ts). The finalist passes the gate only when it is significantly better AND nothing
 * regressed. "Gate" means this decision and nothing else in Kaizen.
 *
 * Pure module: no I/O. The campaign workflow calls it; its unit tests cover every reason.
 */
import type { PairedTestResult } from './stats/paired.js'
import type { GoldenComparison, SafetyComparison, ShipFailure } from './ship.js'

/** The finalist against the baseline on the holdout, as the `compareOnHoldout` activity returns it. */
export interface HoldoutComparison extends PairedTestResult {
  baselineHoldoutDQ: number
  winnerHoldoutDQ: number
  /** The task's golden set, baseline vs winner (null: the task has none). Absent in older results. */
  golden?: GoldenComparison | null
  /** Safety-check failures on the holdout and golden items. Absent in older results. */
  safety?: SafetyComparison
  /** Why the winner may not ship although better (golden or safety regression); empty: none. */
  regressions?: ShipFailure[]
  /** Mean cost per request of the winner relative to the baseline, on the holdout. */
  costRatio: number
  rolloutsUsed: number
}

export type GateDecision = 'pass' | 'no-significant-improvement' | 'golden-regression' | 'safety-regression'

/** What a campaign's result records of the gate. */
export interface GateScores {
  baselineHoldoutDQ: number
  winnerHoldoutDQ: number
  holdout: {
    n: number
    meanDelta: number
    lowerBound: number
    pValue: number
    alpha: number
    significant: boolean
    /** The finalist's cost per request relative to the baseline's, on the holdout. */
    costRatio: number
  }
  golden?: GoldenComparison | null
  safety?: SafetyComparison | null
}

export interface GateResult {
  decision: GateDecision
  /** The sentence the campaign ends with (or, on `pass`, begins its canary reason with). */
  reason: string
  /** The holdout evidence in one line: scores, effect, bound, p-value, α, cost ratio. */
  evidence: string
  scores: GateScores
  /** The finalist's cost per request relative to the baseline's (1 when the comparison has none). */
  costRatio: number
}

/** A score as campaigns print it (3 decimals; n/a when there is none). */
export const formatScore = (x: number | null) => (x === null ? 'n/a' : x.toFixed(3))

function describeEvidence(cmp: HoldoutComparison, costRatio: number): string {
  const delta = `${cmp.meanDelta >= 0 ? '+' : ''}${cmp.meanDelta.toFixed(3)}`
  const p = cmp.pValue < 0.0001 ? 'p < 0.0001' : `p = ${cmp.pValue.toFixed(4)}`
  return (
    `holdout DQ ${formatScore(cmp.winnerHoldoutDQ)} vs baseline ${formatScore(cmp.baselineHoldoutDQ)} ` +
    `on ${cmp.n} paired items (Δ ${delta}, lower bound ${cmp.lowerBound.toFixed(3)}, ${p}, α = ${cmp.alpha}; ` +
    `${costRatio.toFixed(2)}× the baseline's cost per request)`
  )
}

/**
 * Decide whether the finalist ships to a canary.
 * @param stopReason why the search ended early (spend budget, a stop request), if it did: a
 *   refusal says so, so that nobody reads "not better" where the search was cut short.
 */
export function holdoutGate(cmp: HoldoutComparison, stopReason: string | null = null): GateResult {
  // Comparisons recorded in histories before the cost ratio existed carry none: the same cost.
  const costRatio = cmp.costRatio ?? 1
  const scores: GateScores = {
    baselineHoldoutDQ: cmp.baselineHoldoutDQ,
    winnerHoldoutDQ: cmp.winnerHoldoutDQ,
    holdout: {
      n: cmp.n,
      meanDelta: cmp.meanDelta,
      lowerBound: cmp.lowerBound,
      pValue: cmp.pValue,
      alpha: cmp.alpha,
      significant: cmp.significant,
      costRatio,
    },
    ...(cmp.golden !== undefined ? { golden: cmp.golden, safety: cmp.safety ?? null } : {}),
  }
  const evidence = describeEvidence(cmp, costRatio)
  const cut = stopReason ? `; the search ended early: ${stopReason}` : ''
  const result = (decision: GateDecision, reason: string): GateResult => ({
    decision,
    reason,
    evidence,
    scores,
    costRatio,
  })
  if (!cmp.significant) return result('no-significant-improvement', `not significantly better: ${evidence}${cut}`)
  // Better on the holdout is not enough: no golden case or safety check may regress.
  const regressions = cmp.regressions ?? []
  if (regressions.length > 0) {
    const decision = regressions.some((r) => r.code === 'safety-regression') ? 'safety-regression' : 'golden-regression'
    const what = regressions.map((r) => r.message).join('; ')
    return result(decision, `significantly better (${evidence}), but ${what}${cut}`)
  }
  return result('pass', `significantly better: ${evidence}`)
}
