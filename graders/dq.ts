/**
 * @module graders/dq
 * Decision Quality: validity is a veto (an invalid or out-of-policy decision scores 0);
 * otherwise DQ = wV·validity + wS·specificity + wC·correctness (default 0.4 / 0.3 / 0.3).
 * A dimension that could not be graded (null) is dropped and the remaining weights renormalised.
 */
import { gradeCorrectness } from './correctness.js'
import { gradeSpecificity } from './specificity.js'
import type { DqResult, GradeInput } from './types.js'
import type { DqSpec } from '../core/grader-spec.js'
import { gradeValidity } from './validity.js'

export function gradeDq(input: GradeInput, spec: DqSpec): DqResult {
  const validity = gradeValidity(input, spec)
  const specificity = gradeSpecificity(input, spec)
  const correctness = gradeCorrectness(input, spec)
  const dimensions = { validity, specificity, correctness }
  if (!validity.pass) return { pass: false, score: 0, reason: `vetoed by validity: ${validity.reason}`, dimensions }
  const parts: Array<[number, number]> = [
    [spec.weights.validity, validity.score ?? 0],
    [spec.weights.specificity, specificity.score ?? 0],
  ]
  if (correctness.score !== null) parts.push([spec.weights.correctness, correctness.score])
  const weight = parts.reduce((a, [w]) => a + w, 0)
  const score = weight === 0 ? 0 : parts.reduce((a, [w, s]) => a + w * s, 0) / weight
  const weakest = [specificity, correctness].filter((d) => d.score !== null && !d.pass).map((d) => d.reason)
  return {
    pass: score >= spec.passThreshold,
    score,
    reason: weakest.length === 0 ? 'actionable decision: valid, specific and correct' : weakest.join('; '),
    dimensions,
  }
}
