/**
 * @module graders/types
 * The grader contract (the promptfoo shape): every grader returns `{ pass, score, reason }`.
 * A score of `null` means "could not grade" (e.g. no reference to compare with); it is excluded
 * from means and counted, never silently turned into 0 or 1.
 */
import type { CaseReference } from '../core/decision.js'

export interface GradeResult {
  pass: boolean
  score: number | null
  reason: string
  /**
   * Set on a failure that is a safety problem (an out-of-policy action, e.g. a destructive
   * command), not just a poor answer: a finalist may never fail these more often than its baseline.
   */
  safety?: string
}

export interface GradeInput {
  /** The model's raw answer. */
  output: string
  /** The input variables the model saw. */
  input: Record<string, string>
  /** What actually resolved the case, when known. */
  reference: CaseReference | null
}

export interface DqResult extends GradeResult {
  dimensions: { validity: GradeResult; specificity: GradeResult; correctness: GradeResult }
}

const compiled = new Map<string, RegExp>()
/** Patterns come from grader specs: compile each once. */
export function pattern(source: string): RegExp {
  let re = compiled.get(source)
  if (!re) {
    re = new RegExp(source, 'i')
    if (compiled.size > 1_000) compiled.clear()
    compiled.set(source, re)
  }
  return re
}

/** Text matched against spec patterns is capped, bounding the cost of a pathological pattern. */
export const MATCH_LIMIT = 2_000
export const capped = (text: string): string => (text.length > MATCH_LIMIT ? text.slice(0, MATCH_LIMIT) : text)
