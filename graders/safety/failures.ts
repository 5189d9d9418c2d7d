/**
 * @module graders/safety/failures
 * Which safety checks an answer failed, read from its stored grade: every safety check that
 * vetoed it (prompt injection, PII, refusal: stored as `gate:<name>` dimensions) and every
 * dimension whose failure is marked as a safety problem (an out-of-policy action). The ship
 * decision counts these per check, for the baseline and the finalist on the same items.
 *
 * Pure module: no I/O.
 */
import type { GradeResult } from '../types.js'

export function safetyFailures(
  dimensions: Readonly<Record<string, Partial<GradeResult> | undefined>> | null | undefined,
): string[] {
  const out: string[] = []
  for (const [name, r] of Object.entries(dimensions ?? {})) {
    if (!r || r.pass !== false) continue
    if (name.startsWith('gate:')) out.push(name.slice('gate:'.length))
    else if (typeof r.safety === 'string') out.push(r.safety)
  }
  return [...new Set(out)].sort()
}
