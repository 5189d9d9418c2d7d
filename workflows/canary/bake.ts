/**
 * @module workflows/canary/bake
 * After promotion, the bake window: production runs the candidate while a holdback slice stays on
 * the previous version; the comparison goes on and a regression rolls production back. A cancel
 * or failure from here on removes the holdback; it never undoes the promotion.
 */
import { CancellationScope, allHandlersFinished, condition, continueAsNew, workflowInfo } from '@temporalio/workflow'
import { guarded, guardedBatch } from '../activities.js'
import { manualRollback } from './decide.js'
import type { canaryRelease } from './index.js'
import type { CanaryRun } from './run.js'

/** End the bake window with production on the candidate; the holdback (if still ours) is removed. */
export async function finishBake(run: CanaryRun, why: string) {
  const { status, input } = run
  await guarded.endBake({ canaryId: input.canaryId, reason: why })
  status.state = 'promoted'
  status.weight = 0
  status.reason = why
  run.refusePending()
  await run.notify('baked', `Canary ${input.canaryId}: ${why}; production stays on ${input.candidateVersionId}`)
}

/** Put the holdback on the previous version; false when the bake window could not start. */
async function startBake(run: CanaryRun): Promise<boolean> {
  const { status, input, config } = run
  status.state = 'baking'
  status.weight = config.bake.holdbackWeight
  status.reason =
    `baking for ${config.bake.seconds} s: ${Math.round(config.bake.holdbackWeight * 100)}% of traffic ` +
    `stays on ${status.previousVersionId}`
  const started = await CancellationScope.nonCancellable(() =>
    guarded.startBake({
      canaryId: input.canaryId,
      previousVersionId: status.previousVersionId as string,
      holdbackWeight: config.bake.holdbackWeight,
    }),
  )
  if (started.conflict) {
    status.state = 'promoted'
    status.weight = 0
    status.reason = `promoted without a bake window: ${started.conflict}`
    await run.recordState(true)
    return false
  }
  run.bakeSince = started.startedAt
  return true
}

/** After promotion: compare production with a holdback on the previous version for a while. */
export async function bake(run: CanaryRun): Promise<void> {
  const { status, input, config, late } = run
  if (
    !run.v2 ||
    config.bake.seconds <= 0 ||
    !status.previousVersionId ||
    status.previousVersionId === input.candidateVersionId
  )
    return
  if (late) late.bakeAhead = false
  if (status.state !== 'baking' && !(await startBake(run))) return
  for (;;) {
    await condition(() => run.pending !== null || run.supersededBy !== null, run.intervalMs)
    if (run.pending !== null) return manualRollback(run, run.pending) // only `reject` is valid while baking
    if (run.supersededBy !== null) return finishBake(run, `bake window cut short: superseded by ${run.supersededBy}`)
    status.bakeSeconds = (status.bakeSeconds ?? 0) + config.analysisIntervalSeconds
    const since = run.bakeSince
    const evidence = await guardedBatch.analyzeCanary({ canaryId: input.canaryId, phase: 'bake', since })
    status.analysis = evidence.analysis
    status.analyzedAt = evidence.at
    status.analyses++
    // Evidence of a regression counts even if the holdback was just taken away.
    if (evidence.analysis.verdict === 'rollback') {
      const why = `regression during the bake window: ${evidence.analysis.reasons.join('; ')}`
      return run.rollback(why, 'kaizen', { analysis: evidence.analysis })
    }
    if (evidence.labelHeld === false) {
      // Someone else took the canary label: there is no holdback to compare with any more.
      return finishBake(run, 'bake window ended early: the holdback label was moved away from this canary')
    }
    await run.reportAlerts(evidence.analysis)
    // A reject that arrived during the last look is still carried out.
    if (run.pending !== null) return manualRollback(run, run.pending)
    if ((status.bakeSeconds ?? 0) >= config.bake.seconds) break
    if (workflowInfo().continueAsNewSuggested) {
      await condition(() => allHandlersFinished() || run.pending !== null)
      if (run.pending === null) await continueAsNew<typeof canaryRelease>({ ...input, resume: run.resume() })
    }
  }
  await finishBake(run, `bake window of ${config.bake.seconds} s passed without regression`)
}
