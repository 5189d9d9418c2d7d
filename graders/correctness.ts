/**
 * @module graders/correctness
 * Correctness against the reference (what actually resolved the case): the diagnosis names the
 * reference's key facts, the actions match the reference actions (F1 over target + command
 * tokens, same verb), and the risk level agrees. No reference → `null` (excluded and counted).
 */
import { parseDecision, Reference, type Action } from '../core/decision.js'
import type { GradeInput, GradeResult } from './types.js'
import type { DqSpec } from '../core/grader-spec.js'

const words = (s: string) =>
  s
    .toLowerCase()
    .split(/[^a-z0-9.]+/)
    .filter((t) => t.length > 0)

/**
 * Same action: same target, the same leading words (the verb: `kubectl rollout undo` is not
 * `kubectl rollout restart`, `refund 24.90` is not `refund 10`), and most of the reference's words.
 */
function actionsMatch(out: Action, ref: Action): boolean {
  if (ref.target.trim() !== '' && out.target.trim().toLowerCase() !== ref.target.trim().toLowerCase()) return false
  const a = words(out.command)
  const b = words(ref.command)
  if (b.length === 0) return false
  const verb = Math.min(3, b.length)
  if (a.slice(0, verb).join(' ') !== b.slice(0, verb).join(' ')) return false
  const have = new Set(a)
  const unique = [...new Set(b)]
  return unique.filter((t) => have.has(t)).length / unique.length >= 0.6
}

export function gradeCorrectness(input: GradeInput, spec: Pick<DqSpec, 'correctnessWeights'>): GradeResult {
  if (!input.reference) return { pass: false, score: null, reason: 'no reference outcome to compare with' }
  const parsed = parseDecision(input.output)
  if (!parsed.ok) return { pass: false, score: 0, reason: 'malformed answer' }
  const d = parsed.decision
  const shaped = Reference.safeParse(input.reference)
  if (!shaped.success)
    return {
      pass: false,
      score: null,
      reason: 'the reference is not a decision outcome (diagnosis, keywords, actions)',
    }
  const ref = shaped.data
  const diag = d.diagnosis.toLowerCase()
  const found = ref.keywords.filter((k) => diag.includes(k.toLowerCase())).length
  const diagnosis = found / ref.keywords.length
  const matchedRef = ref.actions.filter((r) => d.actions.some((o) => actionsMatch(o, r))).length
  const matchedOut = d.actions.filter((o) => ref.actions.some((r) => actionsMatch(o, r))).length
  const recall = matchedRef / ref.actions.length
  const precision = matchedOut / d.actions.length
  const actions = recall + precision === 0 ? 0 : (2 * recall * precision) / (recall + precision)
  const risk = ref.risk === undefined ? 1 : d.risk === ref.risk ? 1 : 0
  const w = spec.correctnessWeights
  const total = w.diagnosis + w.actions + w.risk
  const score = total === 0 ? 0 : (w.diagnosis * diagnosis + w.actions * actions + w.risk * risk) / total
  const parts = [
    `diagnosis names ${found}/${ref.keywords.length} key facts`,
    `actions match ${matchedRef}/${ref.actions.length} reference actions (${d.actions.length} given)`,
    ref.risk === undefined
      ? null
      : d.risk === undefined
        ? 'risk not stated'
        : d.risk === ref.risk
          ? 'risk agrees'
          : `risk ${d.risk}, expected ${ref.risk}`,
  ].filter(Boolean)
  return { pass: score >= 0.7, score, reason: parts.join('; ') }
}
