/**
 * @module workflows/campaign/run
 * `CampaignRun`: the state of one improvement attempt (its status, the pinned baseline, grader and
 * dataset) and how it ends: `finish` records the decision, `fail` the failure.
 *
 * 👉 The campaign's one `patched()` branch is decided here, in the constructor:
 * `evaluation-fan-out` — executions started before evaluations fanned out to chunk activities
 * make them all inside their steps when they replay.
 */
import {
  ApplicationFailure,
  CancellationScope,
  allHandlersFinished,
  condition,
  isCancellation,
  patched,
} from '@temporalio/workflow'
import type { BeginCampaignResult, SnapshotResult } from '../../activities/campaign.js'
import { CampaignConfig, type CampaignConfigInput } from '../../core/config.js'
import { formatPath } from '../../core/errors.js'
import { FAN_OUT } from '../../core/fanout.js'
import { formatScore } from '../../core/gate.js'
import { quick } from '../activities.js'
import { failureType, rootMessage } from '../failures.js'
import type { CampaignDecision, CampaignResult, CampaignStatus } from '../messages.js'

/** What the campaign pins at its start. */
export type Begin = Pick<BeginCampaignResult, 'baselineVersionId' | 'baselineVersion' | 'graderVersionId'>

export interface CampaignInput {
  taskId: string
  /** Defaults to the workflow id (schedules give each run its own). */
  campaignId?: string
  trigger?: 'cli' | 'api' | 'schedule' | 'demo' | 'test' | 'monitor'
  /** What caused it beyond the trigger: the quality monitor's alert id for `monitor`. */
  triggerRef?: string
  config?: CampaignConfigInput
  /** Carried across continue-as-new. */
  resume?: { begin: Begin; snapshot: SnapshotResult; status: CampaignStatus }
}

export function parseCampaignConfig(config: CampaignInput['config']): CampaignConfig {
  const parsed = CampaignConfig.safeParse(config ?? {})
  if (!parsed.success) {
    const fields = parsed.error.issues.map((i) => `${formatPath(i.path)}: ${i.message}`).join('; ')
    throw ApplicationFailure.nonRetryable(`invalid campaign config: ${fields}`, 'INVALID_INPUT')
  }
  return parsed.data
}

export class CampaignRun {
  readonly config: CampaignConfig
  /** patched('evaluation-fan-out'): null on executions that evaluate inside their steps. */
  readonly fanOut: typeof FAN_OUT | null
  readonly campaignId: string
  readonly seed: string
  readonly trigger: NonNullable<CampaignInput['trigger']>
  readonly status: CampaignStatus
  datasetId: string
  graderVersionId: string

  constructor(
    readonly input: CampaignInput,
    workflowId: string,
  ) {
    this.config = parseCampaignConfig(input.config)
    this.fanOut = patched('evaluation-fan-out') ? FAN_OUT : null
    this.campaignId = input.campaignId ?? workflowId
    this.seed = this.config.seed ?? this.campaignId
    this.trigger = input.trigger ?? 'api'
    this.status = input.resume?.status ?? {
      campaignId: this.campaignId,
      taskId: input.taskId,
      stage: 'starting',
      round: 0,
      rounds: this.config.search.rounds,
      rolloutsUsed: 0,
      rolloutBudget: this.config.search.rolloutBudget,
      proposals: 0,
      baselineVersionId: null,
      baselineValidationDQ: null,
      bestVersionId: null,
      bestValidationDQ: null,
      stopRequested: false,
      decision: null,
      reason: null,
      canaryId: null,
    }
    this.datasetId = input.resume?.snapshot.datasetId ?? ''
    this.graderVersionId = input.resume?.begin.graderVersionId ?? ''
  }

  /** End with a decision: record it, wait for handlers, return the result. */
  async finish(
    decision: CampaignDecision,
    reason: string,
    extra: Partial<CampaignResult>,
    winnerVersionId: string | null,
  ): Promise<CampaignResult> {
    const { status, campaignId } = this
    status.stage = 'done'
    status.decision = decision
    status.reason = reason
    const result: CampaignResult = {
      campaignId,
      task: this.input.taskId,
      baselineVersion: status.baselineVersionId as string,
      winnerVersion: winnerVersionId,
      baselineHoldoutDQ: null,
      winnerHoldoutDQ: null,
      baselineValidationDQ: status.baselineValidationDQ,
      winnerValidationDQ: winnerVersionId ? status.bestValidationDQ : null,
      rolloutsUsed: status.rolloutsUsed,
      decision,
      reason,
      holdout: null,
      canary: null,
      datasetId: this.datasetId,
      graderVersionId: this.graderVersionId,
      rounds: status.round,
      proposals: status.proposals,
      ...extra,
    }
    await quick.finishCampaign({
      campaignId,
      status: decision === 'stopped' ? 'stopped' : 'completed',
      decision,
      reason,
      winnerVersionId,
      result: { ...result },
    })
    await condition(allHandlersFinished)
    return result
  }

  /**
   * A step failed. The spend limit stopping a step outside the search ends the campaign with the
   * best so far and no canary; anything else is recorded as the failure and rethrown.
   */
  async fail(err: unknown): Promise<CampaignResult> {
    const { status } = this
    if (failureType(err) === 'BUDGET_EXHAUSTED' && status.baselineVersionId) {
      const best =
        status.bestVersionId && status.bestVersionId !== status.baselineVersionId ? status.bestVersionId : null
      return await this.finish(
        'budget-exhausted',
        `spend budget exhausted: ${rootMessage(err)}; best so far: ${best ?? 'the baseline'} ` +
          `(validation ${formatScore(status.bestValidationDQ)}), not canaried without the holdout gate`,
        {},
        best,
      )
    }
    status.stage = 'failed'
    const reason = rootMessage(err)
    status.reason = reason
    await CancellationScope.nonCancellable(() =>
      quick.finishCampaign({
        campaignId: this.campaignId,
        status: isCancellation(err) ? 'stopped' : 'failed',
        decision: isCancellation(err) ? 'cancelled' : 'failed',
        reason,
        winnerVersionId: null,
        result: {},
      }),
    ).catch(() => undefined)
    throw err
  }
}
