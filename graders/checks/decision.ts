/** Decision Quality checks on JSON decisions (validity, specificity, correctness), as in graders/dq.ts. */
import { Reference } from '../../core/decision.js'
import { gradeCorrectness } from '../correctness.js'
import { gradeSpecificity } from '../specificity.js'
import type { DecisionSettings } from '../../core/grader-spec.js'
import { gradeValidity } from '../validity.js'
import type { z } from 'zod'
import { result, type CheckInput } from './util.js'

type Settings = z.infer<typeof DecisionSettings>

const asGradeInput = (input: CheckInput) => {
  const ref = Reference.safeParse(input.reference)
  return { output: input.output, input: input.input, reference: ref.success ? ref.data : null }
}

export const decisionValidity = (input: CheckInput, s: Settings) => gradeValidity(asGradeInput(input), s)

export function decisionSpecificity(input: CheckInput, s: Settings, passAt: number) {
  const r = gradeSpecificity(asGradeInput(input), s)
  return result(r.score !== null && r.score >= passAt, r.score, r.reason)
}

export function decisionCorrectness(input: CheckInput, s: Settings, passAt: number) {
  const r = gradeCorrectness(asGradeInput(input), s)
  return result(r.score !== null && r.score >= passAt, r.score, r.reason)
}
