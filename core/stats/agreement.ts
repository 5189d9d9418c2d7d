/**
 * @module core/stats/agreement
 * Agreement between a grader and people: Cohen's κ with its confusion matrix for pass/fail
 * labels, Spearman's ρ (simple-statistics) for ordinal scores. Pure.
 */
import { sampleRankCorrelation } from 'simple-statistics'

export interface Confusion {
  /** Rows: human label; columns: grader label. */
  humanPass: { graderPass: number; graderFail: number }
  humanFail: { graderPass: number; graderFail: number }
}

export interface KappaResult {
  n: number
  kappa: number | null
  observedAgreement: number | null
  confusion: Confusion
}

export function cohenKappa(pairs: ReadonlyArray<readonly [human: boolean, grader: boolean]>): KappaResult {
  const c: Confusion = { humanPass: { graderPass: 0, graderFail: 0 }, humanFail: { graderPass: 0, graderFail: 0 } }
  for (const [h, g] of pairs) {
    const row = h ? c.humanPass : c.humanFail
    if (g) row.graderPass++
    else row.graderFail++
  }
  const n = pairs.length
  if (n === 0) return { n, kappa: null, observedAgreement: null, confusion: c }
  const po = (c.humanPass.graderPass + c.humanFail.graderFail) / n
  const hPass = (c.humanPass.graderPass + c.humanPass.graderFail) / n
  const gPass = (c.humanPass.graderPass + c.humanFail.graderPass) / n
  const pe = hPass * gPass + (1 - hPass) * (1 - gPass)
  // Both raters constant and equal: perfect agreement, but κ is undefined (0/0); report 1 only then.
  const kappa = pe === 1 ? (po === 1 ? 1 : 0) : (po - pe) / (1 - pe)
  return { n, kappa, observedAgreement: po, confusion: c }
}

export function spearman(xs: readonly number[], ys: readonly number[]): number | null {
  if (xs.length < 3 || xs.length !== ys.length) return null
  const r = sampleRankCorrelation([...xs], [...ys])
  return Number.isFinite(r) ? r : null
}
