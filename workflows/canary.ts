/**
 * @module workflows/canary
 * `canaryRelease`: serve the candidate to a slice of live traffic (sticky by routing key), compare
 * it with the concurrent baseline at every interval, and
 *   - roll back automatically on regression, in every state, including while waiting for a human;
 *   - when the evidence says "no worse", wait for a human: the `approve` Update (with identity)
 *     promotes, `reject` rolls back; if nobody decides in time, follow the timeout policy;
 *   - never promote on its own, and never leave the candidate on traffic unmonitored: a failure
 *     or a cancellation of this workflow takes it off.
 * Every label move, approval and rollback is an audit event (written by the activities).
 *
 * 👉 Human decisions arrive as Updates, but all state changes happen in the main loop, one at a
 * time. An accepted decision is always settled: carried out, or refused with the reason (e.g. a
 * regression was detected first), so its caller never waits forever.
 */
import {
  ApplicationFailure,
  CancellationScope,
  ContinueAsNew,
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
import { guarded, guardedBatch } from './activities.js'
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
  /** The canary this one replaces (its label may be taken over). */
  supersedes?: string | null
  /** Carried across continue-as-new. */
  resume?: { status: CanaryStatus }
}

type Pending = { decision: 'approve' | 'reject'; input: ApprovalInput; requestId: string; evidence: Record<string, unknown> }
type Settled = { outcome: ApprovalOutcome } | { refused: string }

const ENDED: ReadonlySet<CanaryStatus['state']> = new Set(['promoted', 'rolled_back'])

function rootMessage(err: unknown): string {
  let e = err as { message?: string; cause?: unknown } | undefined
  while (e?.cause) e = e.cause as typeof e
  return e?.message ?? String(err)
}

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
  let settled: Settled | null = null
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
    await condition(() => settled !== null)
    const s = settled as unknown as Settled
    if ('refused' in s) throw ApplicationFailure.nonRetryable(s.refused, 'CONFLICT')
    return s.outcome
  }
  setHandler(approveUpdate, handle('approve'), { validator: (a) => validateApproval(status.state, pending, a, 'approve') })
  setHandler(rejectUpdate, handle('reject'), { validator: (a) => validateApproval(status.state, pending, a, 'reject') })

  const rollback = async (reason: string, actor: string, evidence: Record<string, unknown> | null) => {
    await guarded.rollbackCanary({ canaryId: input.canaryId, reason, actor, evidence })
    status.state = 'rolled_back'
    status.reason = reason
  }
  const end = async () => {
    const p = pending as Pending | null
    if (p && !settled) settled = { refused: `canary ${input.canaryId} ended (${status.state}) before the ${p.decision} could be applied: ${status.reason ?? ''}` }
    await condition(allHandlersFinished)
    return status
  }

  /** Record the human's decision and carry it out, without interruption by a cancel. */
  const decide = (p: Pending) =>
    CancellationScope.nonCancellable(async () => {
      const { approvalId } = await guarded.recordApproval({
        canaryId: input.canaryId,
        decision: p.decision,
        approver: p.input.approver,
        role: p.input.role ?? null,
        comment: p.input.comment ?? null,
        requestId: p.requestId,
        evidence: p.evidence,
      })
      status.decidedBy = p.input.approver
      const said = p.input.comment ? `: ${p.input.comment}` : ''
      if (p.decision === 'approve') {
        const promotion = await guarded.promoteCanary({ canaryId: input.canaryId, approver: p.input.approver, approvalId })
        if (promotion.promoted === false) {
          await rollback(`approved by ${p.input.approver}, but not promoted: ${promotion.conflict}`, 'kaizen', p.evidence)
          settled = { refused: status.reason as string }
          return
        }
        status.state = 'promoted'
        status.reason = `approved by ${p.input.approver}${said}`
      } else {
        await rollback(`rejected by ${p.input.approver}${said}`, p.input.approver, p.evidence)
      }
      settled = {
        outcome: {
          canaryId: input.canaryId,
          state: status.state,
          decision: p.decision,
          approver: p.input.approver,
          approvalId,
          productionVersionId: p.decision === 'approve' ? input.candidateVersionId : input.baselineVersionId,
        },
      }
    })

  try {
    if (status.state === 'starting') {
      const begun = await guarded.beginCanary({ ...input, config, supersedes: input.supersedes ?? null })
      if (begun.conflict) {
        status.state = 'rolled_back'
        status.reason = `not started: ${begun.conflict}`
        await guarded.setCanaryState({ canaryId: input.canaryId, state: status.state, reason: status.reason, ended: true })
        return await end()
      }
      status.state = 'running'
    }
    for (;;) {
      await condition(() => pending !== null || supersededBy !== null, intervalMs)

      if (pending !== null) {
        await decide(pending)
        return await end()
      }
      if (supersededBy !== null) {
        await rollback(`superseded by ${supersededBy}`, 'kaizen', status.analysis ? { analysis: status.analysis } : null)
        return await end()
      }

      // Analyse: the rollback test stays armed in every state.
      const evidence = await guardedBatch.analyzeCanary({ canaryId: input.canaryId })
      status.analysis = evidence.analysis
      status.analyzedAt = evidence.at
      status.analyses++
      if (evidence.labelHeld === false) {
        status.state = 'rolled_back'
        status.reason = 'the canary label was moved away from this canary; it no longer serves traffic'
        await guarded.setCanaryState({ canaryId: input.canaryId, state: status.state, reason: status.reason, ended: true })
        return await end()
      }
      const verdict = evidence.analysis.verdict
      if (verdict === 'rollback') {
        await rollback(`automatic rollback: ${evidence.analysis.reasons.join('; ')}`, 'kaizen', { analysis: evidence.analysis })
        return await end()
      }
      if (status.state === 'running' && (verdict === 'ready' || verdict === 'inconclusive')) {
        status.state = verdict === 'ready' ? 'awaiting_approval' : 'holding'
        status.reason = evidence.analysis.reasons.join('; ')
        await guarded.setCanaryState({ canaryId: input.canaryId, state: status.state, reason: status.reason })
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
          await guarded.setCanaryState({ canaryId: input.canaryId, state: status.state, reason: status.reason })
        }
      }

      if (workflowInfo().continueAsNewSuggested) {
        // A decision arriving now is handled in this run first; handlers must be done before moving on.
        await condition(() => allHandlersFinished() || pending !== null)
        if (pending !== null) continue
        return await continueAsNew<typeof canaryRelease>({ ...input, resume: { status } })
      }
    }
  } catch (err) {
    if (err instanceof ContinueAsNew) throw err
    // Never leave the candidate on live traffic without monitoring.
    if (!ENDED.has(status.state)) {
      const why = isCancellation(err) ? 'canary workflow cancelled' : `canary workflow failed: ${rootMessage(err)}`
      await CancellationScope.nonCancellable(() => rollback(why, 'kaizen', null)).catch(() => undefined)
    }
    const p = pending as Pending | null
    if (p && !settled) settled = { refused: `canary ${input.canaryId} stopped before the ${p.decision} could be applied: ${rootMessage(err)}` }
    throw err
  }
}
