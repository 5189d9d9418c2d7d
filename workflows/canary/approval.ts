/**
 * @module workflows/canary/approval
 * Human decisions on a canary: the validator of the `approve` / `reject` Updates and the pending
 * decision the main loop carries out.
 *
 * A decision the validator accepts becomes a `Pending` the main loop settles exactly once:
 * carried out (the outcome), or refused with the reason. The late-decision rule
 * (`patched('canary-late-decisions')`, decided in `CanaryRun`'s constructor): a reject is accepted
 * from the approval on until the bake window ends (also while the approval is still being carried
 * out, and in the instant between promotion and the bake's start: it waits its turn, then rolls
 * production back); an approval repeated by the same person returns the recorded outcome and
 * records nothing; anyone else's approval is refused naming who approved, and when.
 */
import { ApplicationFailure, condition } from '@temporalio/workflow'
import type { CanaryConfig } from '../../core/config.js'
import type { ApprovalInput, ApprovalOutcome, CanaryStatus, DecisionRecord } from '../messages.js'
import type { CanaryRun } from './run.js'

export type Verb = 'approve' | 'reject'
export type Settled = { outcome: ApprovalOutcome } | { refused: string }

/** A human decision accepted by the validator, waiting for the main loop; settled exactly once. */
export interface Pending {
  decision: Verb
  input: ApprovalInput
  requestId: string
  evidence: Record<string, unknown>
  settled: Settled | null
}

/** What the late-decision rule needs to know (null: executions started before it). */
export interface LateDecisions {
  /** A reject waiting behind an approval being carried out. */
  queued: Pending | null
  /** Promoted, and the bake window about to start. */
  bakeAhead: boolean
  approval: DecisionRecord | null
}

/** Why a promoted canary takes no reject any more (late rule). */
export function noLongerRejectable(
  status: CanaryStatus,
  config: CanaryConfig,
  a: DecisionRecord | null | undefined,
): string {
  const why = config.bake.seconds > 0 ? (status.reason ?? 'its bake window is over') : 'this canary has no bake window'
  const approved = a ? ` (approved by ${a.approver} at ${a.at})` : ''
  return `canary ${status.canaryId} is promoted${approved} and can no longer be rolled back by a reject (${why})`
}

function requireComment(config: CanaryConfig, input: ApprovalInput) {
  if (config.requireRejectComment && !input.comment?.trim())
    throw new Error('reject needs a comment saying why; nothing was recorded')
}

/**
 * The late-decision rule's part of the validator. Returns true when the decision is accepted
 * without the ordinary checks (a repeated approval, or a reject that waits its turn).
 */
function validateLate(
  status: CanaryStatus,
  pending: Pending | null,
  input: ApprovalInput,
  verb: Verb,
  config: CanaryConfig,
  late: LateDecisions,
): boolean {
  const who = input.approver.trim()
  const a = late.approval
  if (verb === 'approve' && pending?.decision === 'approve') {
    if (pending.input.approver === who) return true // the same approval again: answered with its outcome
    throw new Error(`an approval by ${pending.input.approver} is being carried out; nothing was recorded`)
  }
  if (verb === 'approve' && a) {
    if (a.approver === who) return true // already approved by this person: the recorded outcome
    throw new Error(
      `canary ${status.canaryId} was already approved by ${a.approver} at ${a.at} (approval ${a.approvalId}); ` +
        `it is ${status.state}; nothing was recorded`,
    )
  }
  if (verb === 'reject' && pending?.decision === 'approve') {
    if (late.queued)
      throw new Error(
        `a reject by ${late.queued.input.approver} is already waiting for the approval by ` +
          `${pending.input.approver} to be carried out; nothing was recorded`,
      )
    requireComment(config, input)
    return true // waits for the approval, then rolls back during the bake window (or is refused if there is none)
  }
  if (verb === 'reject' && status.state === 'promoted' && late.bakeAhead && !pending) {
    requireComment(config, input)
    return true // the bake window is starting: it rolls production back
  }
  if (verb === 'reject' && status.state === 'promoted' && !pending)
    throw new Error(`${noLongerRejectable(status, config, a)}; nothing was recorded`)
  return false
}

/** The Update validator: refuses (nothing recorded) what cannot be carried out now. */
export function validateApproval(
  status: CanaryStatus,
  pending: Pending | null,
  input: ApprovalInput,
  verb: Verb,
  config: CanaryConfig,
  late: LateDecisions | null = null,
) {
  const state = status.state
  if (typeof input?.approver !== 'string' || input.approver.trim() === '') {
    throw new Error(`${verb} needs the approver's identity (approver: a name or email); nothing was recorded`)
  }
  if (config.approverRoles.length > 0 && !config.approverRoles.includes(input.role ?? '')) {
    throw new Error(
      `${verb} needs one of these roles: ${config.approverRoles.join(', ')} ` +
        `(got ${input.role ? `"${input.role}"` : 'none'}); nothing was recorded`,
    )
  }
  if (late && validateLate(status, pending, input, verb, config, late)) return
  if (pending) throw new Error(`a ${pending.decision} by ${pending.input.approver} is already being processed`)
  if (verb === 'approve') {
    // A ramp paused by alerts is not a canary waiting for a decision.
    if (state !== 'awaiting_approval' && !(state === 'holding' && !status.heldFrom)) {
      throw new Error(
        `canary is ${state}${status.heldFrom ? ' on alerts' : ''}, not awaiting approval; nothing was recorded`,
      )
    }
    const earlier = status.approvals?.find((a) => a.approver === input.approver.trim())
    if (earlier)
      throw new Error(
        `${earlier.approver} already approved at ${earlier.at}; this canary needs ${config.approvals} approvals ` +
          `from different people (${status.approvals?.length ?? 0} so far): another person must approve; ` +
          'nothing was recorded',
      )
    if (status.alertKinds?.includes('sample-ratio')) {
      throw new Error(
        `the sample-ratio check failed (${(status.alerts ?? []).join('; ')}): the evidence cannot be trusted ` +
          'until routing is fixed; reject instead, or wait; nothing was recorded',
      )
    }
  }
  if (verb === 'reject') {
    if (state !== 'running' && state !== 'awaiting_approval' && state !== 'holding' && state !== 'baking') {
      throw new Error(`canary is ${state} and can no longer be rejected; nothing was recorded`)
    }
    requireComment(config, input)
  }
}

/** The approval this person already made, answered again with its recorded outcome (late rule). */
function repeatedOutcome(run: CanaryRun, a: DecisionRecord): ApprovalOutcome {
  const { status, input } = run
  const production =
    status.state === 'rolled_back' ? (status.previousVersionId ?? input.baselineVersionId) : input.candidateVersionId
  return {
    canaryId: input.canaryId,
    state: status.state,
    decision: 'approve',
    approver: a.approver,
    approvalId: a.approvalId,
    productionVersionId: production,
    repeated: true,
    decidedAt: a.at,
    summary:
      `already approved by ${a.approver} at ${a.at} (approval ${a.approvalId}); nothing new was recorded; ` +
      `the canary is ${status.state} and production is ${production}`,
  }
}

/** The Update handler: hand the decision to the main loop and wait until it is settled. */
export async function receiveDecision(run: CanaryRun, decision: Verb, approval: ApprovalInput) {
  const { status, late } = run
  if (late && decision === 'approve') {
    // The person who approved, approving again: the recorded outcome; nothing new is recorded.
    const pending = run.pending
    const same = pending?.decision === 'approve' && pending.input.approver === approval.approver.trim() ? pending : null
    if (same) await condition(() => same.settled !== null)
    const a = late.approval
    if (same && 'refused' in (same.settled as Settled))
      throw ApplicationFailure.nonRetryable((same.settled as { refused: string }).refused, 'CONFLICT')
    if (a && a.approver === approval.approver.trim()) return repeatedOutcome(run, a)
  }
  // The evidence on screen when the human decided: the latest analysis.
  const p: Pending = {
    decision,
    input: {
      approver: approval.approver.trim(),
      ...(approval.role ? { role: approval.role } : {}),
      ...(approval.comment ? { comment: approval.comment } : {}),
    },
    requestId: `${decision}-${status.analyses}`,
    evidence: { analyzedAt: status.analyzedAt, state: status.state, analysis: status.analysis },
    settled: null,
  }
  // A reject sent while an approval is being carried out waits its turn (late rule).
  if (late && decision === 'reject' && run.pending?.decision === 'approve') late.queued = p
  else run.pending = p
  await condition(() => p.settled !== null)
  const s = p.settled as unknown as Settled
  if ('refused' in s) throw ApplicationFailure.nonRetryable(s.refused, 'CONFLICT')
  return s.outcome
}
