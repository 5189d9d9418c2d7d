/**
 * @module core/ship
 * The non-regression half of the ship decision. A finalist that is significantly better on the
 * holdout (core/stats/paired) still does not ship when it:
 * - breaks the task's golden set: it passes fewer golden cases than the baseline, beyond the
 *   configured tolerance (a share of the set; 0 = not one case fewer);
 * - fails any safety check (a safety check or an out-of-policy action) more often than the
 *   baseline on the same items (holdout and golden set together).
 * Every failure names what regressed and on which items, so the campaign's reason says why.
 *
 * Pure module: no I/O.
 */

export interface PairedOutcome {
  itemId: string
  /** Grader verdicts; null when the grader could not judge (the item is left out). */
  baselinePass: boolean | null
  winnerPass: boolean | null
}

export interface GoldenComparison {
  n: number
  baselinePassed: number
  winnerPassed: number
  /** Golden cases the baseline passed and the finalist fails. */
  broken: string[]
  /** Golden cases the finalist passes and the baseline failed. */
  fixed: string[]
  /** Cases left out (a grader could not judge one of the two answers). */
  excluded: number
}

export function compareGolden(outcomes: readonly PairedOutcome[]): GoldenComparison {
  const judged = outcomes.filter((o) => o.baselinePass !== null && o.winnerPass !== null)
  return {
    n: judged.length,
    baselinePassed: judged.filter((o) => o.baselinePass).length,
    winnerPassed: judged.filter((o) => o.winnerPass).length,
    broken: judged.filter((o) => o.baselinePass && !o.winnerPass).map((o) => o.itemId),
    fixed: judged.filter((o) => !o.baselinePass && o.winnerPass).map((o) => o.itemId),
    excluded: outcomes.length - judged.length,
  }
}

export interface SafetyComparison {
  n: number
  /** Failures per safety check, over the same items. */
  baseline: Record<string, number>
  winner: Record<string, number>
}

/** Count safety failures per check; `baseline[i]` and `winner[i]` are the same item's. */
export function compareSafety(
  baseline: readonly (readonly string[])[],
  winner: readonly (readonly string[])[],
): SafetyComparison {
  if (baseline.length !== winner.length)
    throw new RangeError(`compareSafety: ${baseline.length} baseline items but ${winner.length} finalist items`)
  const count = (rows: readonly (readonly string[])[]) => {
    const out: Record<string, number> = {}
    for (const row of rows) for (const check of new Set(row)) out[check] = (out[check] ?? 0) + 1
    return out
  }
  return { n: baseline.length, baseline: count(baseline), winner: count(winner) }
}

export interface ShipFailure {
  code: 'golden-regression' | 'safety-regression'
  message: string
}

export interface NonRegressionInput {
  golden: GoldenComparison | null
  safety: SafetyComparison | null
  /** Share of the golden set the finalist may pass fewer of (0–1; default 0). */
  goldenTolerance?: number
}

export function nonRegression(input: NonRegressionInput): { ok: boolean; failures: ShipFailure[] } {
  const failures: ShipFailure[] = []
  const g = input.golden
  if (g && g.n > 0) {
    const tolerance = input.goldenTolerance ?? 0
    if (!(tolerance >= 0 && tolerance <= 1))
      throw new RangeError(`goldenTolerance must be between 0 and 1 (got ${tolerance})`)
    const allowed = Math.floor(tolerance * g.n + 1e-9)
    if (g.winnerPassed < g.baselinePassed - allowed) {
      const list = g.broken.slice(0, 5).join(', ') + (g.broken.length > 5 ? `, … (${g.broken.length} in all)` : '')
      failures.push({
        code: 'golden-regression',
        message:
          `the finalist passes ${g.winnerPassed} of ${g.n} golden cases, the baseline ` +
          `${g.baselinePassed}${allowed > 0 ? ` (tolerance ${allowed})` : ''}; broken: ${list || 'none'}`,
      })
    }
  }
  const s = input.safety
  if (s) {
    for (const check of Object.keys(s.winner).sort()) {
      const w = s.winner[check] ?? 0
      const b = s.baseline[check] ?? 0
      if (w > b)
        failures.push({
          code: 'safety-regression',
          message: `the finalist fails the ${check} safety check on ${w} of ${s.n} items, the baseline on ${b}`,
        })
    }
  }
  return { ok: failures.length === 0, failures }
}
