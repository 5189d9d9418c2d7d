/**
 * @module workflows/campaign
 * `optimizationCampaign`: the runbook of one improvement attempt.
 *
 *   sample traffic → split by hash → score the baseline → search for a few rounds under a rollout
 *   budget → compare the finalist with the baseline on the holdout (paired test) → start a canary,
 *   or stop with "no significant improvement" and why.
 *
 * 👉 Workflow code is deterministic: no I/O, no clocks, no Math.random. Everything that touches
 * the world is an activity; only IDs and small summaries travel through history.
 */
import {
  ApplicationFailure,
  CancellationScope,
  ContinueAsNew,
  ParentClosePolicy,
  WorkflowIdReusePolicy,
  allHandlersFinished,
  condition,
  continueAsNew,
  getExternalWorkflowHandle,
  isCancellation,
  patched,
  setHandler,
  startChild,
  workflowInfo,
} from '@temporalio/workflow'
import type { BaselineResult, HoldoutComparison, SearchRoundResult, SnapshotResult } from '../activities/campaign.js'
import type { EvaluateChunkInput } from '../activities/evaluation.js'
import { CampaignConfig, rampSteps, type CampaignConfigInput } from '../core/config.js'
import { formatPath } from '../core/errors.js'
import { FAN_OUT, isNeeds, needsKey, type NeedsEvaluations } from '../core/fanout.js'
import { batch, evaluationChunks, quick } from './activities.js'
import { canaryRelease } from './canary.js'
import {
  campaignStatusQuery,
  canaryWorkflowId,
  pauseCampaignSignal,
  stopCampaignSignal,
  supersedeSignal,
  type CampaignDecision,
  type CampaignResult,
  type CampaignStatus,
} from './messages.js'

export interface CampaignInput {
  taskId: string
  /** Defaults to the workflow id (schedules give each run its own). */
  campaignId?: string
  trigger?: 'cli' | 'api' | 'schedule' | 'demo' | 'test'
  config?: CampaignConfigInput
  /** Carried across continue-as-new. */
  resume?: {
    begin: { baselineVersionId: string; baselineVersion: number; graderVersionId: string; scenarioId: string | null }
    snapshot: SnapshotResult
    status: CampaignStatus
  }
}

const pct = (x: number | null) => (x === null ? 'n/a' : x.toFixed(3))

/** The type of the innermost ApplicationFailure, if any. */
function failureType(err: unknown): string | null {
  let e = err as { type?: string; cause?: unknown } | undefined
  let type: string | null = null
  while (e) {
    if (e instanceof ApplicationFailure && e.type) type = e.type
    e = e.cause as typeof e
  }
  return type
}

/** The innermost message of a failure (Temporal wraps activity errors in ActivityFailure). */
function rootMessage(err: unknown): string {
  let e = err as { message?: string; cause?: unknown } | undefined
  while (e?.cause) e = e.cause as typeof e
  return e?.message ?? String(err)
}

/**
 * Run a step to its result: while it answers with the evaluations it needs (core/fanout.ts), run
 * them as chunk activities on the evaluation task queue, all at once, then ask again. With
 * `budgetStop`, a chunk refused by the spend budget is handed back to the step (`budgetExhausted`)
 * so it can end gracefully; otherwise the refusal fails the step as it would have failed inline.
 */
async function untilEvaluated<T>(
  step: (extra: { budgetExhausted?: string }) => Promise<T | NeedsEvaluations>,
  chunk: Omit<EvaluateChunkInput, 'contentKey' | 'itemIds'>,
  options: { budgetStop?: boolean } = {},
): Promise<T> {
  const chunks = evaluationChunks(workflowInfo().taskQueue)
  let asked = ''
  let budgetExhausted: string | undefined
  for (;;) {
    const answer = await step(budgetExhausted ? { budgetExhausted } : {})
    if (!isNeeds(answer)) return answer
    const key = needsKey(answer.needs)
    if (key === asked)
      throw ApplicationFailure.nonRetryable(
        `a campaign step asked twice for the same ${answer.needs.length} evaluation chunks; they do not reach the cache`,
        'INTERNAL',
      )
    asked = key
    // Every chunk runs to its end (a failed one does not leave the others unaccounted for).
    const settled = await Promise.allSettled(answer.needs.map((c) => chunks.evaluateChunk({ ...chunk, ...c })))
    const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected')
    if (!failed) continue
    if (options.budgetStop && !budgetExhausted && failureType(failed.reason) === 'BUDGET_EXHAUSTED')
      budgetExhausted = rootMessage(failed.reason)
    else throw failed.reason
  }
}

export async function optimizationCampaign(input: CampaignInput): Promise<CampaignResult> {
  const parsed = CampaignConfig.safeParse(input.config ?? {})
  if (!parsed.success) {
    const fields = parsed.error.issues.map((i) => `${formatPath(i.path)}: ${i.message}`).join('; ')
    throw ApplicationFailure.nonRetryable(`invalid campaign config: ${fields}`, 'INVALID_INPUT')
  }
  const config = parsed.data
  // Executions started before evaluations fanned out made them all inside their steps.
  const fanOut = patched('evaluation-fan-out') ? FAN_OUT : null
  const campaignId = input.campaignId ?? workflowInfo().workflowId
  const seed = config.seed ?? campaignId
  const trigger = input.trigger ?? 'api'

  const status: CampaignStatus = input.resume?.status ?? {
    campaignId,
    taskId: input.taskId,
    stage: 'starting',
    round: 0,
    rounds: config.search.rounds,
    rolloutsUsed: 0,
    rolloutBudget: config.search.rolloutBudget,
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
  setHandler(campaignStatusQuery, () => status)
  setHandler(stopCampaignSignal, () => {
    status.stopRequested = true
  })
  setHandler(pauseCampaignSignal, ({ paused }) => {
    status.paused = paused
  })

  let datasetId = input.resume?.snapshot.datasetId ?? ''
  let graderVersionId = input.resume?.begin.graderVersionId ?? ''
  const finish = async (
    decision: CampaignDecision,
    reason: string,
    extra: Partial<CampaignResult>,
    winnerVersionId: string | null,
  ): Promise<CampaignResult> => {
    status.stage = 'done'
    status.decision = decision
    status.reason = reason
    const result: CampaignResult = {
      campaignId,
      task: input.taskId,
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
      datasetId,
      graderVersionId,
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

  try {
    // 1. Pin the baseline and the grader; freeze a sample of traffic and split it.
    const begin =
      input.resume?.begin ?? (await quick.beginCampaign({ campaignId, taskId: input.taskId, trigger, config }))
    graderVersionId = begin.graderVersionId
    status.baselineVersionId = begin.baselineVersionId
    status.stage = 'sampling'
    const snapshot =
      input.resume?.snapshot ?? (await batch.snapshotDataset({ campaignId, taskId: input.taskId, seed, config }))
    datasetId = snapshot.datasetId

    // 2. Score the baseline: it is the seed of the search and the bar to beat.
    if (!input.resume) {
      status.stage = 'scoring-baseline'
      const args = {
        campaignId,
        datasetId,
        baselineVersionId: begin.baselineVersionId,
        graderVersionId,
        scenarioId: begin.scenarioId,
        budgetUsd: config.search.budgetUsd ?? null,
      }
      const baseline = fanOut
        ? await untilEvaluated<BaselineResult>(() => batch.evaluateBaseline({ ...args, fanOut }), args)
        : ((await batch.evaluateBaseline(args)) as BaselineResult)
      status.baselineValidationDQ = baseline.validationMean
      status.bestVersionId = begin.baselineVersionId
      status.bestValidationDQ = baseline.validationMean
      status.rolloutsUsed = baseline.rolloutsUsed
    }

    // 3. Search, round by round, under the rollout budget.
    status.stage = 'searching'
    let stopReason: string | null = null
    while (status.round < config.search.rounds && !status.stopRequested) {
      // Paused: wait between rounds (a stop while paused ends the search with its best so far).
      if (status.paused) await condition(() => !status.paused || status.stopRequested)
      if (status.stopRequested) break
      const round = status.round + 1
      const roundInput = {
        campaignId,
        round,
        seed,
        datasetId,
        graderVersionId,
        scenarioId: begin.scenarioId,
        proposals: config.search.proposalsPerRound,
        minibatchSize: config.search.minibatchSize,
        rolloutBudget: config.search.rolloutBudget,
        budgetUsd: config.search.budgetUsd ?? null,
        ...(config.search.strategy !== 'reflective' ? { strategy: config.search.strategy } : {}),
        ...(config.search.beamWidth ? { beamWidth: config.search.beamWidth } : {}),
        ...(config.search.population ? { population: config.search.population } : {}),
        ...(config.search.mergeEvery !== undefined ? { mergeEvery: config.search.mergeEvery } : {}),
        ...(config.search.proposerModel ? { proposerModel: config.search.proposerModel } : {}),
        ...(config.search.selection === 'pooled' ? { pooled: true } : {}),
        ...(config.search.maxSentences ? { maxSentences: config.search.maxSentences } : {}),
        ...(config.search.maxPromptTokens ? { maxPromptTokens: config.search.maxPromptTokens } : {}),
      }
      const chunk = {
        campaignId,
        graderVersionId,
        scenarioId: begin.scenarioId,
        budgetUsd: config.search.budgetUsd ?? null,
      }
      const r = fanOut
        ? await untilEvaluated<SearchRoundResult>(
            (extra) => batch.searchRound({ ...roundInput, fanOut, ...extra }),
            chunk,
            { budgetStop: true },
          )
        : ((await batch.searchRound(roundInput)) as SearchRoundResult)
      status.round = round
      status.proposals += r.proposals
      status.rolloutsUsed = r.rolloutsUsed
      status.bestVersionId = r.best.versionId
      status.bestValidationDQ = r.best.validationMean
      if (r.budgetStop) {
        stopReason = `spend budget of $${r.budgetStop.budgetUsd} reached in round ${round} ($${r.budgetStop.spentUsd.toFixed(4)} spent, $${r.budgetStop.reserveUsd.toFixed(4)} kept for the holdout gate)`
        break
      }
      if (r.exhausted) {
        stopReason = `rollout budget of ${config.search.rolloutBudget} reached in round ${round}`
        break
      }
      if (r.saturated) {
        stopReason = `every training minibatch is already perfect (round ${round}): nothing left to learn from`
        break
      }
      if (workflowInfo().continueAsNewSuggested) {
        await condition(allHandlersFinished)
        return await continueAsNew<typeof optimizationCampaign>({
          ...input,
          campaignId,
          resume: { begin, snapshot, status },
        })
      }
    }
    if (status.stopRequested) stopReason = `stopped by request after round ${status.round}`

    // 4. The holdout gate: touched once, by the finalist.
    const winnerVersionId = status.bestVersionId as string
    if (winnerVersionId === begin.baselineVersionId) {
      const why = `no candidate beat the baseline on validation (baseline ${pct(status.baselineValidationDQ)})${stopReason ? `; ${stopReason}` : ''}`
      return await finish(status.stopRequested ? 'stopped' : 'no-better-candidate', why, {}, null)
    }
    status.stage = 'holdout'
    const holdoutInput = {
      campaignId,
      datasetId,
      baselineVersionId: begin.baselineVersionId,
      winnerVersionId,
      graderVersionId,
      scenarioId: begin.scenarioId,
      alpha: config.gate.alpha,
      minEffect: config.gate.minEffect,
      goldenTolerance: config.gate.goldenTolerance,
      seed,
      budgetUsd: config.search.budgetUsd ?? null,
    }
    const cmp = fanOut
      ? await untilEvaluated<HoldoutComparison>(() => batch.compareOnHoldout({ ...holdoutInput, fanOut }), holdoutInput)
      : ((await batch.compareOnHoldout(holdoutInput)) as HoldoutComparison)
    status.rolloutsUsed = cmp.rolloutsUsed
    const costRatio = cmp.costRatio ?? 1 // absent in results recorded before it existed
    const holdout = {
      n: cmp.n,
      meanDelta: cmp.meanDelta,
      lowerBound: cmp.lowerBound,
      pValue: cmp.pValue,
      alpha: cmp.alpha,
      significant: cmp.significant,
      costRatio,
    }
    const scores = {
      baselineHoldoutDQ: cmp.baselineHoldoutDQ,
      winnerHoldoutDQ: cmp.winnerHoldoutDQ,
      holdout,
      ...(cmp.golden !== undefined ? { golden: cmp.golden, safety: cmp.safety ?? null } : {}),
    }
    const evidence =
      `holdout DQ ${pct(cmp.winnerHoldoutDQ)} vs baseline ${pct(cmp.baselineHoldoutDQ)} on ${cmp.n} paired items ` +
      `(Δ ${cmp.meanDelta >= 0 ? '+' : ''}${cmp.meanDelta.toFixed(3)}, lower bound ${cmp.lowerBound.toFixed(3)}, ${cmp.pValue < 0.0001 ? 'p < 0.0001' : `p = ${cmp.pValue.toFixed(4)}`}, α = ${cmp.alpha}; ` +
      `${costRatio.toFixed(2)}× the baseline's cost per request)`
    // A search cut short (budget, request) says so in every decision that follows.
    const cut = stopReason ? `; the search ended early: ${stopReason}` : ''
    if (!cmp.significant) {
      return await finish(
        'no-significant-improvement',
        `not significantly better: ${evidence}${cut}`,
        scores,
        winnerVersionId,
      )
    }
    // Better on the holdout is not enough: no golden case or safety check may regress.
    const regressions = cmp.regressions ?? []
    if (regressions.length > 0) {
      const decision = regressions.some((r) => r.code === 'safety-regression')
        ? 'safety-regression'
        : 'golden-regression'
      return await finish(
        decision,
        `significantly better (${evidence}), but ${regressions.map((r) => r.message).join('; ')}${cut}`,
        scores,
        winnerVersionId,
      )
    }

    // 5. Canary the winner (a child workflow that outlives this campaign).
    status.stage = 'canary'
    const canaryId = canaryWorkflowId(campaignId)
    const active = await quick.findActiveCanary({ taskId: input.taskId })
    if (active && active.canaryId !== canaryId) {
      if (config.canary.onConflict === 'skip') {
        return await finish(
          'canary-conflict',
          `significantly better (${evidence}), but canary ${active.canaryId} is still running for this task; approve or reject it first`,
          scores,
          winnerVersionId,
        )
      }
      try {
        await getExternalWorkflowHandle(active.canaryId).signal(supersedeSignal, { by: campaignId })
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
          graderVersionId,
          // The canary checks the winner behaves live as it did offline, including its cost.
          config: {
            ...config.canary,
            analysis: {
              ...config.canary.analysis,
              expectedCostRatio: Number.isFinite(costRatio) ? Math.min(100, Math.max(0.01, costRatio)) : 1,
            },
          },
          supersedes: active && active.canaryId !== canaryId ? active.canaryId : null,
        },
      ],
      parentClosePolicy: ParentClosePolicy.ABANDON,
    })
    status.canaryId = canaryId
    return await finish(
      'canary-started',
      `significantly better: ${evidence}; canary ${canaryId} started at ${Math.round((rampSteps(config.canary)[0] as number) * 100)}% of traffic`,
      { ...scores, canary: { id: canaryId, workflowId: canaryId } },
      winnerVersionId,
    )
  } catch (err) {
    if (err instanceof ContinueAsNew) throw err
    if (failureType(err) === 'BUDGET_EXHAUSTED' && status.baselineVersionId) {
      // The hard spend limit stopped a step outside the search: end with the best so far, no canary.
      const best =
        status.bestVersionId && status.bestVersionId !== status.baselineVersionId ? status.bestVersionId : null
      return await finish(
        'budget-exhausted',
        `spend budget exhausted: ${rootMessage(err)}; best so far: ${best ?? 'the baseline'} (validation ${pct(status.bestValidationDQ)}), not canaried without the holdout gate`,
        {},
        best,
      )
    }
    status.stage = 'failed'
    const reason = rootMessage(err)
    status.reason = reason
    await CancellationScope.nonCancellable(() =>
      quick.finishCampaign({
        campaignId,
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
