/**
 * @module workflows/campaign/search
 * Step 3 of the campaign: search for a better prompt, one `searchRound` activity per round (history
 * grows per round, not per evaluation), under the rollout and spend budgets; pausable between
 * rounds, stoppable by request.
 */
import { allHandlersFinished, condition, continueAsNew, workflowInfo } from '@temporalio/workflow'
import type { SearchRoundInput, SearchRoundResult, SnapshotResult } from '../../activities/campaign.js'
import { batch } from '../activities.js'
import { untilEvaluated } from './evaluate.js'
import type { optimizationCampaign } from './index.js'
import type { Begin, CampaignRun } from './run.js'

/** The `searchRound` input of one round: the campaign's search config travels as one field. */
function roundInput(run: CampaignRun, begin: Begin, round: number): SearchRoundInput {
  const { config, campaignId, seed, datasetId, graderVersionId } = run
  return { campaignId, round, seed, datasetId, graderVersionId, search: config.search }
}

/** Why a round ends the search early, if it does. */
function stopAfter(run: CampaignRun, r: SearchRoundResult, round: number): string | null {
  if (r.budgetStop) {
    const { budgetUsd, spentUsd, reserveUsd } = r.budgetStop
    return (
      `spend budget of $${budgetUsd} reached in round ${round} ($${spentUsd.toFixed(4)} spent, ` +
      `$${reserveUsd.toFixed(4)} kept for the holdout gate)`
    )
  }
  if (r.exhausted) return `rollout budget of ${run.config.search.rolloutBudget} reached in round ${round}`
  if (r.saturated) return `every training minibatch is already perfect (round ${round}): nothing left to learn from`
  return null
}

/**
 * Search round by round. Returns why it ended early (budget, saturation, a stop request), or null.
 * Continues as new when Temporal suggests it (only IDs and the status are carried).
 */
export async function search(run: CampaignRun, begin: Begin, snapshot: SnapshotResult): Promise<string | null> {
  const { status, config, input } = run
  status.stage = 'searching'
  let stopReason: string | null = null
  while (status.round < config.search.rounds && !status.stopRequested) {
    // Paused: wait between rounds (a stop while paused ends the search with its best so far).
    if (status.paused) await condition(() => !status.paused || status.stopRequested)
    if (status.stopRequested) break
    const round = status.round + 1
    const args = roundInput(run, begin, round)
    const chunk = {
      campaignId: run.campaignId,
      graderVersionId: run.graderVersionId,
      budgetUsd: config.search.budgetUsd ?? null,
    }
    const fanOut = run.fanOut
    const r = fanOut
      ? await untilEvaluated<SearchRoundResult>((extra) => batch.searchRound({ ...args, fanOut, ...extra }), chunk, {
          budgetStop: true,
        })
      : ((await batch.searchRound(args)) as SearchRoundResult)
    status.round = round
    status.proposals += r.proposals
    status.rolloutsUsed = r.rolloutsUsed
    status.bestVersionId = r.best.versionId
    status.bestValidationDQ = r.best.validationMean
    if (r.finalists) status.finalists = r.finalists
    stopReason = stopAfter(run, r, round)
    if (stopReason) break
    if (workflowInfo().continueAsNewSuggested) {
      await condition(allHandlersFinished)
      await continueAsNew<typeof optimizationCampaign>({
        ...input,
        campaignId: run.campaignId,
        resume: { begin, snapshot, status },
      })
    }
  }
  if (status.stopRequested) stopReason = `stopped by request after round ${status.round}`
  return stopReason
}
