/**
 * @module graders/specificity
 * Specificity: can someone execute the actions as written? Per action:
 * 1 = a concrete command with a target named in the case, 0.67 = concrete command and a target
 * not found in the case, 0.33 = concrete command without a target, 0 = a vague directive.
 * A target is "named in the case" when it, or one of its identifiers (words with a digit, a dash
 * or a dot, such as `orders-db` or `A-1234`), appears in the input.
 */
import { parseDecision } from '../core/decision.js'
import { capped, pattern, type GradeInput, type GradeResult } from './types.js'
import type { DqSpec } from '../core/grader-spec.js'

export function gradeSpecificity(input: GradeInput, spec: Pick<DqSpec, 'commandPattern'>): GradeResult {
  const parsed = parseDecision(input.output)
  if (!parsed.ok) return { pass: false, score: 0, reason: 'no actions to assess (malformed answer)' }
  const command = pattern(spec.commandPattern)
  const caseText = Object.values(input.input).join(' ').toLowerCase()
  const grounded = (target: string) =>
    caseText.includes(target) ||
    target.split(/\s+/).some((t) => /[\d.-]/.test(t) && t.length >= 3 && caseText.includes(t))
  const scores = parsed.decision.actions.map((a): number => {
    const concrete = command.test(capped(a.command.trim()))
    const target = a.target.trim().toLowerCase()
    if (!concrete) return 0
    if (target === '') return 0.33
    return grounded(target) ? 1 : 0.67
  })
  const score = scores.reduce((x, y) => x + y, 0) / scores.length
  const vague = scores.filter((s) => s === 0).length
  const reason =
    vague > 0
      ? `${vague} of ${scores.length} action(s) are vague directives, not concrete commands with targets`
      : score < 1
        ? 'commands are concrete but some targets are missing or not named in the case'
        : 'every action is a concrete command with a target named in the case'
  return { pass: score >= 0.67, score, reason }
}
