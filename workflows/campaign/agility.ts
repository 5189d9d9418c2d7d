/**
 * @module workflows/campaign/agility
 * Step 4 of a campaign that searched (model, prompt) pairs (docs/model-agility.md): production and
 * each model's finalists on the holdout, the quality × cost × latency front, and the objective's
 * decision rule (core/agility.ts). The pair that qualifies must still pass the golden set and the
 * safety checks, then it is canaried like any winner: the canary's cost test expects its measured
 * cost ratio, and the gateway calls the pair's model for the canary's traffic.
 */
import type { FinalistsComparison } from '../../activities/holdout.js'
import type { GateResult } from '../../core/gate.js'
import { formatUsd, type AgilityObjective } from '../../core/agility.js'
import { batch } from '../activities.js'
import type { CampaignResult } from '../messages.js'
import { startCanary } from './canary.js'
import { untilEvaluated } from './evaluate.js'
import type { Begin, CampaignRun } from './run.js'

export async function shipPair(
  run: CampaignRun,
  begin: Begin,
  objective: AgilityObjective,
  stopReason: string | null,
): Promise<CampaignResult> {
  const { status, config } = run
  const cut = stopReason ? `; the search ended early: ${stopReason}` : ''
  const finalists = (status.finalists ?? []).filter((f) => f.versionId !== begin.baselineVersionId)
  if (finalists.length === 0)
    return await run.finish('no-better-candidate', `the search scored no pair on another model${cut}`, {}, null)
  status.stage = 'holdout'
  const args = {
    campaignId: run.campaignId,
    datasetId: run.datasetId,
    baselineVersionId: begin.baselineVersionId,
    finalists: finalists.map((f) => ({ model: f.model, versionId: f.versionId })),
    graderVersionId: run.graderVersionId,
    objective,
    alpha: config.gate.alpha,
    goldenTolerance: config.gate.goldenTolerance,
    seed: run.seed,
    budgetUsd: config.search.budgetUsd ?? null,
  }
  const fanOut = run.fanOut
  const cmp = fanOut
    ? await untilEvaluated<FinalistsComparison>(() => batch.compareFinalists({ ...args, fanOut }), args)
    : ((await batch.compareFinalists(args)) as FinalistsComparison)
  status.rolloutsUsed = cmp.rolloutsUsed
  const { decision, shipped } = cmp
  const agility = {
    objective,
    reason: decision.reason,
    front: decision.front,
    verdicts: decision.verdicts,
    ship: decision.ship,
    ...(cmp.drop ? { drop: cmp.drop } : {}),
  }
  if (!decision.ship || !shipped)
    return await run.finish('no-significant-improvement', `${decision.reason}${cut}`, { agility }, null)
  const costRatio = shipped.costRatio ?? 1
  const holdout = {
    n: shipped.n,
    meanDelta: shipped.meanDelta,
    lowerBound: shipped.lowerBound,
    pValue: shipped.pValue,
    alpha: shipped.alpha,
    significant: shipped.significant,
    costRatio,
  }
  const scores = {
    baselineHoldoutDQ: shipped.meanBaseline,
    winnerHoldoutDQ: shipped.meanCandidate,
    holdout,
    golden: shipped.golden ?? null,
    safety: shipped.safety ?? null,
  }
  const regressions = shipped.regressions ?? []
  if (regressions.length > 0) {
    const code = regressions.some((r) => r.code === 'safety-regression') ? 'safety-regression' : 'golden-regression'
    const what = regressions.map((r) => r.message).join('; ')
    return await run.finish(code, `${decision.reason}, but ${what}`, { ...scores, agility }, decision.ship)
  }
  const shippedVerdict = decision.verdicts.find((v) => v.id === decision.ship)
  const evidence =
    `holdout quality ${shipped.meanCandidate.toFixed(3)} vs production ${shipped.meanBaseline.toFixed(3)} on ` +
    `${shipped.n} paired items, ${shippedVerdict ? formatUsd(shippedVerdict.costPer1k) : '?'} per 1,000 requests ` +
    `(${costRatio.toFixed(2)}× production's cost)`
  const gate: GateResult = { decision: 'pass', reason: decision.reason, evidence, scores, costRatio }
  return await startCanary(run, begin, decision.ship, gate, { agility })
}
