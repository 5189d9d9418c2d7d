/**
 * @module workflows/canary/ramp
 * Before promotion: every `analysisIntervalSeconds`, compare the candidate with the concurrent
 * baseline and act on the verdict.
 * - A regression rolls back, in every state (also while waiting for a human).
 * - Alerts (a skewed split, missing traffic) pause the ramp until they clear; they never roll back.
 * - With enough evidence and no harm, widen the slice to the next step.
 * - At the last step, "ready" asks a human (approval.ts); nobody deciding in time follows the
 *   approval-timeout policy.
 */
import type { CanaryAnalysis } from '../../core/canary/analyze.js'
import { guarded, guardedBatch } from '../activities.js'
import type { CanaryRun } from './run.js'

/** What one look decided: the canary ended, or it goes on. */
export type Look = 'ended' | 'continue'

/** Look at the evidence once; roll back on regression, or when the label was taken away. */
export async function look(run: CanaryRun): Promise<CanaryAnalysis | null> {
  const { status, input, config } = run
  // Analyse: the rollback test stays armed in every state.
  const evidence = await guardedBatch.analyzeCanary({ canaryId: input.canaryId })
  status.analysis = evidence.analysis
  status.analyzedAt = evidence.at
  status.analyses++
  run.stepSeconds += config.analysisIntervalSeconds
  if (evidence.labelHeld === false) {
    status.state = 'rolled_back'
    status.reason = 'the canary label was moved away from this canary; it no longer serves traffic'
    await run.recordState(true)
    return null
  }
  const analysis = evidence.analysis
  if (analysis.verdict === 'rollback') {
    await run.rollback(`automatic rollback: ${analysis.reasons.join('; ')}`, 'kaizen', { analysis })
    return null
  }
  return analysis
}

/** Alerts pause the ramp until they clear; a hold nobody resolves follows the approval-timeout policy. */
export async function holdOnAlerts(run: CanaryRun, analysis: CanaryAnalysis): Promise<Look> {
  const { status, config } = run
  const verdict = analysis.verdict
  await run.reportAlerts(analysis)
  if (status.state === 'running' && verdict === 'hold') {
    status.state = 'holding'
    status.heldFrom = 'running'
    status.reason = analysis.reasons.join('; ')
    await run.recordState()
  } else if (status.state === 'holding' && status.heldFrom === 'running' && verdict !== 'hold') {
    status.state = 'running'
    status.heldFrom = null
    status.holdSeconds = 0
    status.reason = 'alerts cleared; the ramp continues'
    await run.recordState()
  } else if (status.state === 'holding' && status.heldFrom === 'running') {
    // A hold nobody resolves (a sample-ratio mismatch does not clear by itself) follows the
    // approval-timeout policy.
    status.holdSeconds = (status.holdSeconds ?? 0) + config.analysisIntervalSeconds
    if (status.holdSeconds >= config.approvalTimeoutSeconds && config.onApprovalTimeout === 'rollback') {
      const alerts = (status.alerts ?? []).join('; ')
      const why = `held on alerts for ${config.approvalTimeoutSeconds} s (${alerts}): rolled back by policy`
      await run.rollback(why, 'kaizen', { analysis })
      return 'ended'
    }
  }
  return 'continue'
}

/** Widen exposure, ask a human at the last step, or apply the approval-timeout policy. */
export async function advance(run: CanaryRun, analysis: CanaryAnalysis): Promise<Look> {
  const { status, config, steps, input } = run
  const verdict = analysis.verdict
  const step = status.step ?? 0
  const lastStep = step >= steps.length - 1
  // The last step needs its own evidence too before a human is asked.
  const stepDone =
    analysis.pairedSamples - run.stepSamples >= config.minSamplesPerStep && run.stepSeconds >= config.minStepSeconds
  if (status.state === 'running' && !lastStep && verdict !== 'hold') {
    // Ramp: widen exposure once this step has enough evidence and no harm.
    if (stepDone) {
      const weight = steps[step + 1] as number
      const ramped = run.v2
        ? await guarded.setCanaryWeight({ canaryId: input.canaryId, weight, step: step + 1 })
        : { conflict: null }
      if (!ramped.conflict) {
        status.step = step + 1
        status.weight = weight
        run.stepSamples = analysis.pairedSamples
        run.stepSeconds = 0
      }
    }
  } else if (
    status.state === 'running' &&
    lastStep &&
    (verdict === 'ready' || verdict === 'inconclusive') &&
    (stepDone || !run.v2)
  ) {
    status.state = verdict === 'ready' ? 'awaiting_approval' : 'holding'
    status.reason = analysis.reasons.join('; ')
    await run.recordState()
    await run.notify(
      verdict === 'ready' ? 'approval_needed' : 'inconclusive',
      `Canary ${input.canaryId} needs a human decision: ${status.reason}`,
    )
  } else if (status.state === 'awaiting_approval') {
    status.approvalWaitSeconds += config.analysisIntervalSeconds
    if (status.approvalWaitSeconds >= config.approvalTimeoutSeconds) {
      const waited = `no approval within ${config.approvalTimeoutSeconds} s`
      if (config.onApprovalTimeout === 'rollback') {
        await run.rollback(`${waited}: rolled back by policy`, 'kaizen', { analysis })
        return 'ended'
      }
      status.state = 'holding'
      status.reason = `${waited}: holding at ${Math.round(status.weight * 100)}% until a human decides`
      await run.recordState()
      await run.notify('inconclusive', `Canary ${input.canaryId}: ${status.reason}`)
    }
  }
  return 'continue'
}
