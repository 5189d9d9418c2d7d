/**
 * @module workflows/canary
 * `canaryRelease`: serve the candidate to a slice of live traffic (sticky by routing key), compare
 * it with the concurrent baseline at every interval, and
 *   - roll back automatically on regression, in every state, including while waiting for a human;
 *   - when the evidence says "no worse", wait for a human: the `approve` Update (with identity)
 *     promotes, `reject` rolls back; if nobody decides in time, follow the timeout policy;
 *   - never promote on its own.
 * Every label move, approval and rollback is an audit event (written by the activities).
 *
 * 👉 Human decisions arrive as Updates, but all state changes happen in the main loop, one at a
 * time; the Update handler waits for the loop to act and returns the outcome to the caller.
 */
import {
  ApplicationFailure,
  CancellationScope,
  allHandlersFinished,
  condition,
  continueAsNew,
  isCancellation,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow'
import type { CanaryIdentity } from '../activities/canary.js'
import { CanaryConfig, type CanaryConfig as CanaryConfigT } from '../core/config.js'
import { formatPath } from '../core/errors.js'
import { batch, quick } from './activities.js'
import {
  approveUpdate,
  canaryStatusQuery,
  rejectUpdate,
  supersedeSignal,
  type ApprovalInput,
  type ApprovalOutcome,
  type CanaryStatus,
} from './messages.js'

export interface CanaryInput extends CanaryIdentity {
  config?: Partial<CanaryConfigT>
  /** Carried across continue-as-new. */
  resume?: { status: CanaryStatus }
}

type Pending = { decision: 'approve' | 'reject'; input: ApprovalInput; requestId: string; evidence: Record<string, unknown> }

function validateApproval(state: CanaryStatus['state'], pending: Pending | null, input: ApprovalInput, verb: 'approve' | 'reject') {
  if (typeof input?.approver !== 'string' || input.approver.trim() === '') {
    throw new Error(`${verb} needs the approver's identity (approver: a name or email); nothing was recorded`)
  }
  if (pending) throw new Error(`a ${pending.decision} by ${pending.input.approver} is already being processed`)
  if (verb === 'approve' && state !== 'awaiting_approval' && state !== 'holding') {
    throw new Error(`canary is ${state}, not awaiting approval; nothing was recorded`)
  }
  if (verb === 'reject' && state !== 'running' && state !== 'awaiting_approval' && state !== 'holding') {
    throw new Error(`canary is ${state} and can no longer be rejected; nothing was recorded`)
  }
}

export async function canaryRelease(input: CanaryInput): Promise<CanaryStatus> {
  const parsed = CanaryConfig.safeParse(input.config ?? {})
  if (!parsed.success) {
    throw ApplicationFailure.nonRetryable(`invalid canary config: ${parsed.error.issues.map((i) => `${formatPath(i.path)}: ${i.message}`).join('; ')}`, 'INVALID_INPUT')
  }
  const config = parsed.data
  const intervalMs = Math.round(config.analysisIntervalSeconds * 1000)
  const status: CanaryStatus = input.resume?.status ?? {
    canaryId: input.canaryId,
    taskId: input.taskId,
    campaignId: input.campaignId,
    state: 'starting',
    weight: config.weight,
    candidateVersionId: input.candidateVersionId,
    baselineVersionId: input.baselineVersionId,
    reason: null,
    analysis: null,
    analyzedAt: null,
    analyses: 0,
    approvalWaitSeconds: 0,
    decidedBy: null,
  }
  let pending: Pending | null = null
  let outcome: ApprovalOutcome | null = null
  let supersededBy: string | null = null

  setHandler(canaryStatusQuery, () => status)
  setHandler(supersedeSignal, ({ by }) => {
    supersededBy = by
  })
  const handle = (decision: 'approve' | 'reject') => async (approval: ApprovalInput): Promise<ApprovalOutcome> => {
    // The evidence on screen when the human decided: the latest analysis.
    pending = {
      decision,
      input: { approver: approval.approver.trim(), ...(approval.role ? { role: approval.role } : {}), ...(approval.comment ? { comment: approval.comment } : {}) },
      requestId: `${decision}-${status.analyses}`,
      evidence: { analyzedAt: status.analyzedAt, state: status.state, analysis: status.analysis },
    }
    await condition(() => outcome !== null)
    return outcome as unknown as ApprovalOutcome
  }
  setHandler(approveUpdate, handle('approve'), { validator: (a) => validateApproval(status.state, pending, a, 'approve') })
  setHandler(rejectUpdate, handle('reject'), { validator: (a) => validateApproval(status.state, pending, a, 'reject') })

  const rollback = async (reason: string, actor: string, evidence: Record<string, unknown> | null) => {
    await quick.rollbackCanary({ canaryId: input.canaryId, reason, actor, evidence })
    status.state = 'rolled_back'
    status.reason = reason
  }
  const end = async () => {
    await condition(allHandlersFinished)
    return status
  }

  try {
    if (status.state === 'starting') {
      await quick.beginCanary({ ...input, config })
      status.state = 'running'
    }
    for (;;) {
      await condition(() => pending !== null || supersededBy !== null, intervalMs)

      if (supersededBy !== null) {
        await rollback(`superseded by ${supersededBy}`, 'kaizen', status.analysis ? { analysis: status.analysis } : null)
        return await end()
      }
      if (pending !== null) {
        const p: Pending = pending
        const { approvalId } = await quick.recordApproval({
          canaryId: input.canaryId,
          decision: p.decision,
          approver: p.input.approver,
          role: p.input.role ?? null,
          comment: p.input.comment ?? null,
          requestId: p.requestId,
          evidence: p.evidence,
        })
        status.decidedBy = p.input.approver
        if (p.decision === 'approve') {
          await quick.promoteCanary({ canaryId: input.canaryId, approver: p.input.approver, approvalId })
          status.state = 'promoted'
          status.reason = `approved by ${p.input.approver}${p.input.comment ? `: ${p.input.comment}` : ''}`
        } else {
          await rollback(`rejected by ${p.input.approver}${p.input.comment ? `: ${p.input.comment}` : ''}`, p.input.approver, p.evidence)
        }
        outcome = {
          canaryId: input.canaryId,
          state: status.state,
          decision: p.decision,
          approver: p.input.approver,
          approvalId,
          productionVersionId: p.decision === 'approve' ? input.candidateVersionId : input.baselineVersionId,
        }
        return await end()
      }

      // Analyse: the rollback test stays armed in every state.
      const evidence = await batch.analyzeCanary({ canaryId: input.canaryId })
      status.analysis = evidence.analysis
      status.analyzedAt = evidence.at
      status.analyses++
      const verdict = evidence.analysis.verdict
      if (verdict === 'rollback') {
        await rollback(`automatic rollback: ${evidence.analysis.reasons.join('; ')}`, 'kaizen', { analysis: evidence.analysis })
        return await end()
      }
      if (status.state === 'running' && (verdict === 'ready' || verdict === 'inconclusive')) {
        status.state = verdict === 'ready' ? 'awaiting_approval' : 'holding'
        status.reason = evidence.analysis.reasons.join('; ')
        await quick.setCanaryState({ canaryId: input.canaryId, state: status.state, reason: status.reason })
      } else if (status.state === 'awaiting_approval') {
        status.approvalWaitSeconds += config.analysisIntervalSeconds
        if (status.approvalWaitSeconds >= config.approvalTimeoutSeconds) {
          const waited = `no approval within ${config.approvalTimeoutSeconds} s`
          if (config.onApprovalTimeout === 'rollback') {
            await rollback(`${waited}: rolled back by policy`, 'kaizen', { analysis: evidence.analysis })
            return await end()
          }
          status.state = 'holding'
          status.reason = `${waited}: holding at ${Math.round(config.weight * 100)}% until a human decides`
          await quick.setCanaryState({ canaryId: input.canaryId, state: status.state, reason: status.reason })
        }
      }

      if (workflowInfo().continueAsNewSuggested) {
        await condition(allHandlersFinished)
        return await continueAsNew<typeof canaryRelease>({ ...input, resume: { status } })
      }
    }
  } catch (err) {
    if (isCancellation(err)) {
      // A cancelled canary must not keep serving: take it off traffic before ending.
      await CancellationScope.nonCancellable(() => rollback('canary workflow cancelled', 'kaizen', null))
    }
    throw err
  }
}
