/**
 * @module core/decision
 * The shape of a decision a person can act on: a diagnosis, concrete actions with their targets,
 * and the risk of acting. Tasks ask their models to answer in this JSON shape; the DQ graders
 * parse it (a malformed answer fails the validity gate).
 *
 * Pure module: safe to import from workflow code.
 */
import { z } from 'zod'

export const Action = z.object({
  command: z.string().min(1),
  target: z.string().default(''),
})
export type Action = z.infer<typeof Action>

export const RISK_LEVELS = ['low', 'medium', 'high'] as const
export type RiskLevel = (typeof RISK_LEVELS)[number]

export const Decision = z.object({
  diagnosis: z.string().min(1),
  actions: z.array(Action).min(1),
  risk: z.enum(RISK_LEVELS).optional(),
  notes: z.string().optional(),
})
export type Decision = z.infer<typeof Decision>

/** The reference a decision is graded against: what actually resolved the case. */
export const Reference = z.object({
  diagnosis: z.string().min(1),
  /** Words or phrases a correct diagnosis mentions (case-insensitive). */
  keywords: z.array(z.string().min(1)).min(1),
  actions: z.array(Action).min(1),
  risk: z.enum(RISK_LEVELS).optional(),
})
export type Reference = z.infer<typeof Reference>

/**
 * What resolved a case (a record's reference: a feedback outcome, a golden case's expected
 * value): any JSON object. Decision tasks use the {@link Reference} shape; checks that read
 * another shape pick their value out of it by path.
 */
export type CaseReference = Record<string, unknown>

export type ParsedDecision = { ok: true; decision: Decision } | { ok: false; error: string }

/** Parse a model's text as a decision: the JSON object may be wrapped in a ```json fence. */
export function parseDecision(text: string): ParsedDecision {
  const fenced = /```(?:json)?\s*([\s\S]*?)```/.exec(text)
  const body = (fenced ? fenced[1] : text)?.trim() ?? ''
  let json: unknown
  try {
    json = JSON.parse(body)
  } catch {
    return { ok: false, error: 'the answer is not a JSON object' }
  }
  const parsed = Decision.safeParse(json)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    return {
      ok: false,
      error: `the answer does not match the decision schema (${issue?.path.join('.') || 'root'}: ${issue?.message})`,
    }
  }
  return { ok: true, decision: parsed.data }
}
