/**
 * @module workflows/campaign/canary
 * Step 5 of the campaign: canary the winner, as a child workflow that outlives the campaign
 * (parent close policy ABANDON). Another canary holding the task is either left alone (the
 * campaign ends, `onConflict: skip`) or superseded (its label is taken over, and a Signal tells it
 * to end).
 */
import { ParentClosePolicy, WorkflowIdReusePolicy, getExternalWorkflowHandle, startChild } from '@temporalio/workflow'
import { rampSteps } from '../../core/config.js'
import type { GateResult } from '../../core/gate.js'
import { quick } from '../activities.js'
import { canaryRelease } from '../canary/index.js'
import { canaryWorkflowId, supersedeSignal, type CampaignResult } from '../messages.js'
import type { Begin, CampaignRun } from './run.js'

/** The canary checks the winner behaves live as it did offline, including its cost. */
const expectedCostRatio = (costRatio: number) =>
  Number.isFinite(costRatio) ? Math.min(100, Math.max(0.01, costRatio)) : 1

export async function startCanary(
  run: CampaignRun,
  begin: Begin,
  winnerVersionId: string,
  gate: GateResult,
  extra: Partial<CampaignResult> = {},
): Promise<CampaignResult> {
  const { status, config, campaignId, input } = run
  status.stage = 'canary'
  const canaryId = canaryWorkflowId(campaignId)
  const active = await quick.findActiveCanary({ taskId: input.taskId })
  const supersedes = active && active.canaryId !== canaryId ? active.canaryId : null
  if (supersedes) {
    if (config.canary.onConflict === 'skip') {
      return await run.finish(
        'canary-conflict',
        `significantly better (${gate.evidence}), but canary ${supersedes} is still running for this task; ` +
          'approve or reject it first',
        { ...gate.scores, ...extra },
        winnerVersionId,
      )
    }
    try {
      await getExternalWorkflowHandle(supersedes).signal(supersedeSignal, { by: campaignId })
    } catch {
      // The older canary's workflow is already gone; its label is replaced below.
    }
  }
  await startChild(canaryRelease, {
    workflowId: canaryId,
    workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
    args: [
      {
        canaryId,
        taskId: input.taskId,
        campaignId,
        candidateVersionId: winnerVersionId,
        baselineVersionId: begin.baselineVersionId,
        graderVersionId: run.graderVersionId,
        config: {
          ...config.canary,
          analysis: { ...config.canary.analysis, expectedCostRatio: expectedCostRatio(gate.costRatio) },
        },
        supersedes,
      },
    ],
    parentClosePolicy: ParentClosePolicy.ABANDON,
  })
  status.canaryId = canaryId
  const share = Math.round((rampSteps(config.canary)[0] as number) * 100)
  return await run.finish(
    'canary-started',
    `${gate.reason}; canary ${canaryId} started at ${share}% of traffic`,
    { ...gate.scores, ...extra, canary: { id: canaryId, workflowId: canaryId } },
    winnerVersionId,
  )
}
