/**
 * @module graders/types
 * The grader contract (the promptfoo shape): every grader returns `{ pass, score, reason }`.
 * A score of `null` means "could not grade" (e.g. no reference to compare with); it is excluded
 * from means and counted, never silently turned into 0 or 1.
 */
import { z } from 'zod'
import type { Reference } from '../core/decision.js'

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
  reference: Reference | null
}

/** The deterministic Decision Quality grader's spec; versioned by content hash. */
export const DqSpec = z.object({
  kind: z.literal('dq'),
  weights: z.object({
    validity: z.number().nonnegative(),
    specificity: z.number().nonnegative(),
    correctness: z.number().nonnegative(),
  }),
  /** An action is concrete when its command matches this pattern (case-insensitive). */
  commandPattern: z.string().min(1),
  /** Actions matching any of these patterns are out of policy: the validity gate vetoes them. */
  forbidden: z.array(z.string()),
  correctnessWeights: z.object({
    diagnosis: z.number().nonnegative(),
    actions: z.number().nonnegative(),
    risk: z.number().nonnegative(),
  }),
  /** DQ at or above this is an actionable decision. */
  passThreshold: z.number().min(0).max(1).default(0.7),
})
export type DqSpec = z.infer<typeof DqSpec>

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
