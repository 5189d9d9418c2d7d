/**
 * @module workflows/campaign
 * `optimizationCampaign`: the runbook of one improvement attempt.
 *
 *   sample traffic → split by hash → score the baseline → search for a few rounds under a rollout
 *   budget → the holdout gate: compare the finalist with the baseline on the holdout (paired test,
 *   core/gate.ts) → start a canary, or stop with "no significant improvement" and why.
 *
 * 👉 Workflow code is deterministic: no I/O, no clocks, no Math.random. Everything that touches
 * the world is an activity; only IDs and small summaries travel through history.
 *
 * The runbook lives in this folder: `run.ts` (state, the end, the `patched()` branch),
 * `evaluate.ts` (fanned-out evaluations), `search.ts` (the rounds), `canary.ts` (the child canary).
 */
import { ContinueAsNew, setHandler, workflowInfo } from '@temporalio/workflow'
import type { BaselineResult } from '../../activities/campaign.js'
import { formatScore, holdoutGate, type HoldoutComparison } from '../../core/gate.js'
import { batch, quick } from '../activities.js'
import { campaignStatusQuery, pauseCampaignSignal, stopCampaignSignal, type CampaignResult } from '../messages.js'
import { shipPair } from './agility.js'
import { startCanary } from './canary.js'
import { untilEvaluated } from './evaluate.js'
import { CampaignRun, type Begin, type CampaignInput } from './run.js'
import { search } from './search.js'

export type { CampaignInput } from './run.js'

export async function optimizationCampaign(input: CampaignInput): Promise<CampaignResult> {
  const run = new CampaignRun(input, workflowInfo().workflowId)
  const { status } = run
  setHandler(campaignStatusQuery, () => status)
  setHandler(stopCampaignSignal, () => {
    status.stopRequested = true
  })
  setHandler(pauseCampaignSignal, ({ paused }) => {
    status.paused = paused
  })
  try {
    return await runbook(run)
  } catch (err) {
    if (err instanceof ContinueAsNew) throw err
    return await run.fail(err)
  }
}

async function runbook(run: CampaignRun): Promise<CampaignResult> {
  const { status, input, campaignId, seed, config } = run
  // 1. Pin the baseline and the grader; freeze a sample of traffic and split it.
  const begin: Begin =
    input.resume?.begin ??
    (await quick.beginCampaign({
      campaignId,
      taskId: input.taskId,
      trigger: run.trigger,
      ...(input.triggerRef ? { triggerRef: input.triggerRef } : {}),
      config,
    }))
  run.graderVersionId = begin.graderVersionId
  status.baselineVersionId = begin.baselineVersionId
  status.stage = 'sampling'
  const snapshot =
    input.resume?.snapshot ?? (await batch.snapshotDataset({ campaignId, taskId: input.taskId, seed, config }))
  run.datasetId = snapshot.datasetId

  // 2. Score the baseline: it is the seed of the search and the bar to beat.
  if (!input.resume) await scoreBaseline(run, begin)

  // 3. Search, round by round, under the rollout budget.
  const stopReason = await search(run, begin, snapshot)

  // 4'. A search over models: each model's finalists against production, by the objective.
  if (config.search.objective) return await shipPair(run, begin, config.search.objective, stopReason)

  // 4. The holdout gate: touched once, by the finalist.
  const winnerVersionId = status.bestVersionId as string
  if (winnerVersionId === begin.baselineVersionId) {
    const why =
      `no candidate beat the baseline on validation (baseline ${formatScore(status.baselineValidationDQ)})` +
      (stopReason ? `; ${stopReason}` : '')
    return await run.finish(status.stopRequested ? 'stopped' : 'no-better-candidate', why, {}, null)
  }
  const gate = holdoutGate(await compareOnHoldout(run, begin, winnerVersionId), stopReason)
  if (gate.decision !== 'pass') return await run.finish(gate.decision, gate.reason, gate.scores, winnerVersionId)

  // 5. Canary the winner (a child workflow that outlives this campaign).
  return await startCanary(run, begin, winnerVersionId, gate)
}

async function scoreBaseline(run: CampaignRun, begin: Begin) {
  const { status } = run
  status.stage = 'scoring-baseline'
  const args = {
    campaignId: run.campaignId,
    datasetId: run.datasetId,
    baselineVersionId: begin.baselineVersionId,
    graderVersionId: run.graderVersionId,
    budgetUsd: run.config.search.budgetUsd ?? null,
  }
  const fanOut = run.fanOut
  const baseline = fanOut
    ? await untilEvaluated<BaselineResult>(() => batch.evaluateBaseline({ ...args, fanOut }), args)
    : ((await batch.evaluateBaseline(args)) as BaselineResult)
  status.baselineValidationDQ = baseline.validationMean
  status.bestVersionId = begin.baselineVersionId
  status.bestValidationDQ = baseline.validationMean
  status.rolloutsUsed = baseline.rolloutsUsed
}

async function compareOnHoldout(run: CampaignRun, begin: Begin, winnerVersionId: string) {
  const { status, config } = run
  status.stage = 'holdout'
  const args = {
    campaignId: run.campaignId,
    datasetId: run.datasetId,
    baselineVersionId: begin.baselineVersionId,
    winnerVersionId,
    graderVersionId: run.graderVersionId,
    alpha: config.gate.alpha,
    minEffect: config.gate.minEffect,
    goldenTolerance: config.gate.goldenTolerance,
    seed: run.seed,
    budgetUsd: config.search.budgetUsd ?? null,
  }
  const fanOut = run.fanOut
  const cmp = fanOut
    ? await untilEvaluated<HoldoutComparison>(() => batch.compareOnHoldout({ ...args, fanOut }), args)
    : ((await batch.compareOnHoldout(args)) as HoldoutComparison)
  status.rolloutsUsed = cmp.rolloutsUsed
  return cmp
}
