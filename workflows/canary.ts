/**
 * @module workflows/canary
 * `canaryRelease`: serve the candidate to a slice of live traffic (sticky by routing key), ramp the
 * slice up step by step, compare with the concurrent baseline at every interval, and
 *   - roll back automatically on regression, in every state, including while waiting for a human;
 *   - when the evidence at the last step says "no worse", ask a human: the `approve` Update (with
 *     identity) promotes, `reject` rolls back; if nobody decides in time, follow the policy;
 *   - after promotion, bake: keep a holdback slice on the previous version, keep comparing, and
 *     roll production back on regression;
 *   - never promote on its own, and never leave the candidate on traffic unmonitored: a failure or
 *     a cancellation of this workflow takes it off.
 * Every label move, approval and rollback is an audit event; people are notified by webhook.
 *
 * 👉 Human decisions arrive as Updates, but all state changes happen in the main loop, one at a
 * time. An accepted decision is always settled: carried out, or refused with the reason.
 * 👉 `patched('canary-ramp-notify-bake')` keeps executions started before the ramp, notifications
 * and bake existed on their original path when they replay.
 * 👉 `patched('canary-late-decisions')`: one rule for decisions that arrive late. A reject is
 * accepted from the approval on until the bake window ends (also while the approval is still being
 * carried out, and in the instant between promotion and the bake's start: it waits its turn, then
 * rolls production back); an approval repeated by the same person returns the recorded outcome and
 * records nothing; anyone else's approval is refused naming who approved, and when.
 */
import {
  ApplicationFailure,
  CancellationScope,
  ContinueAsNew,
  allHandlersFinished,
  condition,
  continueAsNew,
  isCancellation,
  patched,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow'
import type { CanaryAnalysis } from '../core/canary/analyze.js'
import type { CanaryIdentity } from '../activities/canary.js'
import type { CanaryEventName } from '../activities/notify.js'
import { CanaryConfig, rampSteps, type CanaryConfig as CanaryConfigT } from '../core/config.js'
import { formatPath } from '../core/errors.js'
import { guarded, guardedBatch, notifier } from './activities.js'
import {
  approveUpdate,
  canaryStatusQuery,
  rejectUpdate,
  supersedeSignal,
  type ApprovalInput,
  type ApprovalOutcome,
  type CanaryStatus,
  type DecisionRecord,
} from './messages.js'

export interface CanaryInput extends CanaryIdentity {
  config?: Partial<CanaryConfigT>
  /** The canary this one replaces (its label may be taken over). */
  supersedes?: string | null
  /** Carried across continue-as-new. */
  resume?: {
    status: CanaryStatus
    stepSamples?: number
    stepSeconds?: number
    bakeSince?: string | null
    notifications?: number
  }
}

type Settled = { outcome: ApprovalOutcome } | { refused: string }
/** A human decision accepted by the validator, waiting for the main loop; settled exactly once. */
type Pending = {
  decision: 'approve' | 'reject'
  input: ApprovalInput
  requestId: string
  evidence: Record<string, unknown>
  settled: Settled | null
}

const ENDED: ReadonlySet<CanaryStatus['state']> = new Set(['promoted', 'rolled_back'])

function rootMessage(err: unknown): string {
  let e = err as { message?: string; cause?: unknown } | undefined
  while (e?.cause) e = e.cause as typeof e
  return e?.message ?? String(err)
}

/** The root message with the type (Kaizen's error code) of the innermost application failure. */
function rootCause(err: unknown): string {
  let type: string | null = null
  for (let e = err as { type?: string; cause?: unknown } | undefined; e; e = e.cause as typeof e)
    if (e instanceof ApplicationFailure && e.type) type = e.type
  return `${rootMessage(err)}${type ? ` [${type}]` : ''}`
}

/** Why a promoted canary takes no reject any more (late rule). */
function noLongerRejectable(status: CanaryStatus, config: CanaryConfigT, a: DecisionRecord | null | undefined): string {
  const why = config.bake.seconds > 0 ? (status.reason ?? 'its bake window is over') : 'this canary has no bake window'
  return `canary ${status.canaryId} is promoted${a ? ` (approved by ${a.approver} at ${a.at})` : ''} and can no longer be rolled back by a reject (${why})`
}

/** What the late-decision rule needs to know (null: executions started before it). */
interface LateDecisions {
  /** A reject waiting behind an approval being carried out. */
  queued: Pending | null
  /** Promoted, and the bake window about to start. */
  bakeAhead: boolean
  approval: DecisionRecord | null
}

function validateApproval(
  status: CanaryStatus,
  pending: Pending | null,
  input: ApprovalInput,
  verb: 'approve' | 'reject',
  config: CanaryConfigT,
  late: LateDecisions | null = null,
) {
  const state = status.state
  if (typeof input?.approver !== 'string' || input.approver.trim() === '') {
    throw new Error(`${verb} needs the approver's identity (approver: a name or email); nothing was recorded`)
  }
  if (config.approverRoles.length > 0 && !config.approverRoles.includes(input.role ?? '')) {
    throw new Error(
      `${verb} needs one of these roles: ${config.approverRoles.join(', ')} (got ${input.role ? `"${input.role}"` : 'none'}); nothing was recorded`,
    )
  }
  if (late) {
    const who = input.approver.trim()
    const a = late.approval
    if (verb === 'approve' && pending?.decision === 'approve') {
      if (pending.input.approver === who) return // the same approval again: answered with its outcome
      throw new Error(`an approval by ${pending.input.approver} is being carried out; nothing was recorded`)
    }
    if (verb === 'approve' && a) {
      if (a.approver === who) return // already approved by this person: the recorded outcome
      throw new Error(
        `canary ${status.canaryId} was already approved by ${a.approver} at ${a.at} (approval ${a.approvalId}); it is ${status.state}; nothing was recorded`,
      )
    }
    if (verb === 'reject' && pending?.decision === 'approve') {
      if (late.queued)
        throw new Error(
          `a reject by ${late.queued.input.approver} is already waiting for the approval by ${pending.input.approver} to be carried out; nothing was recorded`,
        )
      if (config.requireRejectComment && !input.comment?.trim())
        throw new Error('reject needs a comment saying why; nothing was recorded')
      return // waits for the approval, then rolls back during the bake window (or is refused if there is none)
    }
    if (verb === 'reject' && status.state === 'promoted' && late.bakeAhead && !pending) {
      if (config.requireRejectComment && !input.comment?.trim())
        throw new Error('reject needs a comment saying why; nothing was recorded')
      return // the bake window is starting: it rolls production back
    }
    if (verb === 'reject' && status.state === 'promoted' && !pending)
      throw new Error(`${noLongerRejectable(status, config, a)}; nothing was recorded`)
  }
  if (pending) throw new Error(`a ${pending.decision} by ${pending.input.approver} is already being processed`)
  if (verb === 'approve') {
    // A ramp paused by alerts is not a canary waiting for a decision.
    if (state !== 'awaiting_approval' && !(state === 'holding' && !status.heldFrom)) {
      throw new Error(
        `canary is ${state}${status.heldFrom ? ' on alerts' : ''}, not awaiting approval; nothing was recorded`,
      )
    }
    if (status.alertKinds?.includes('sample-ratio')) {
      throw new Error(
        `the sample-ratio check failed (${(status.alerts ?? []).join('; ')}): the evidence cannot be trusted until routing is fixed; reject instead, or wait; nothing was recorded`,
      )
    }
  }
  if (verb === 'reject') {
    if (state !== 'running' && state !== 'awaiting_approval' && state !== 'holding' && state !== 'baking') {
      throw new Error(`canary is ${state} and can no longer be rejected; nothing was recorded`)
    }
    if (config.requireRejectComment && !input.comment?.trim())
      throw new Error('reject needs a comment saying why; nothing was recorded')
  }
}

/** The evidence a notification carries (tolerates analyses recorded by older builds). */
const brief = (a: CanaryAnalysis | null) =>
  a
    ? {
        pairedSamples: a.pairedSamples ?? null,
        effect: a.effect ?? null,
        verdicts:
          a.metrics?.map((m) => ({
            metric: m.metric,
            estimate: m.estimate,
            eValue: m.harm?.max,
            threshold: m.harm?.threshold,
            harmful: m.harmful,
          })) ?? null,
        readiness: a.readiness
          ? { eValue: a.readiness.max, threshold: a.readiness.threshold, ready: a.readiness.ready }
          : null,
        reasons: a.reasons ?? [],
      }
    : null

export async function canaryRelease(input: CanaryInput): Promise<CanaryStatus> {
  const parsed = CanaryConfig.safeParse(input.config ?? {})
  if (!parsed.success) {
    throw ApplicationFailure.nonRetryable(
      `invalid canary config: ${parsed.error.issues.map((i) => `${formatPath(i.path)}: ${i.message}`).join('; ')}`,
      'INVALID_INPUT',
    )
  }
  const config = parsed.data
  const v2 = patched('canary-ramp-notify-bake')
  const lateRule = patched('canary-late-decisions')
  // Executions started before the ramp existed served one weight (0.1 by default then).
  const steps = v2 ? rampSteps(config) : [config.weight ?? 0.1]
  const intervalMs = Math.round(config.analysisIntervalSeconds * 1000)
  const status: CanaryStatus = input.resume?.status ?? {
    canaryId: input.canaryId,
    taskId: input.taskId,
    campaignId: input.campaignId,
    state: 'starting',
    weight: steps[0] as number,
    steps,
    step: 0,
    alerts: [],
    previousVersionId: null,
    bakeSeconds: 0,
    candidateVersionId: input.candidateVersionId,
    baselineVersionId: input.baselineVersionId,
    reason: null,
    analysis: null,
    analyzedAt: null,
    analyses: 0,
    approvalWaitSeconds: 0,
    decidedBy: null,
  }
  // Executions started before the late-decision rule keep the rules they started with.
  const late: LateDecisions | null = lateRule
    ? { queued: null, bakeAhead: false, approval: status.decisions?.find((d) => d.decision === 'approve') ?? null }
    : null
  let stepSamples = input.resume?.stepSamples ?? 0 // paired samples when the current step began
  let stepSeconds = input.resume?.stepSeconds ?? 0
  let bakeSince: string | null = input.resume?.bakeSince ?? null
  let notifications = input.resume?.notifications ?? 0
  let pending: Pending | null = null
  let supersededBy: string | null = null
  /** Settle the decision being processed and make room for the next one (a reject waiting behind an approval). */
  const settle = (p: Pending, result: Settled) => {
    p.settled = result
    if (pending === p) {
      pending = late?.queued ?? null
      if (late) late.queued = null
    }
  }
  /** Record a decision carried out (late rule: who, when, which approval). */
  const noteDecision = (p: Pending, approvalId: string): DecisionRecord | null => {
    if (!late) return null
    const record: DecisionRecord = {
      decision: p.decision,
      approver: p.input.approver,
      role: p.input.role ?? null,
      approvalId,
      at: new Date().toISOString(),
    }
    status.decisions = [...(status.decisions ?? []), record]
    if (p.decision === 'approve') late.approval = record
    return record
  }

  setHandler(canaryStatusQuery, () => status)
  setHandler(supersedeSignal, ({ by }) => {
    supersededBy = by
  })
  const handle =
    (decision: 'approve' | 'reject') =>
    async (approval: ApprovalInput): Promise<ApprovalOutcome> => {
      if (late && decision === 'approve') {
        // The person who approved, approving again: the recorded outcome; nothing new is recorded.
        const same =
          pending?.decision === 'approve' && pending.input.approver === approval.approver.trim() ? pending : null
        if (same) await condition(() => same.settled !== null)
        const a = late.approval
        if (same && 'refused' in (same.settled as Settled))
          throw ApplicationFailure.nonRetryable((same.settled as { refused: string }).refused, 'CONFLICT')
        if (a && a.approver === approval.approver.trim()) {
          const production =
            status.state === 'rolled_back'
              ? (status.previousVersionId ?? input.baselineVersionId)
              : input.candidateVersionId
          return {
            canaryId: input.canaryId,
            state: status.state,
            decision: 'approve',
            approver: a.approver,
            approvalId: a.approvalId,
            productionVersionId: production,
            repeated: true,
            decidedAt: a.at,
            summary: `already approved by ${a.approver} at ${a.at} (approval ${a.approvalId}); nothing new was recorded; the canary is ${status.state} and production is ${production}`,
          }
        }
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
      if (late && decision === 'reject' && pending?.decision === 'approve') late.queued = p
      else pending = p
      await condition(() => p.settled !== null)
      const s = p.settled as unknown as Settled
      if ('refused' in s) throw ApplicationFailure.nonRetryable(s.refused, 'CONFLICT')
      return s.outcome
    }
  setHandler(approveUpdate, handle('approve'), {
    validator: (a) => validateApproval(status, pending, a, 'approve', config, late),
  })
  setHandler(rejectUpdate, handle('reject'), {
    validator: (a) => validateApproval(status, pending, a, 'reject', config, late),
  })

  /** Tell people (best effort: a webhook outage never stops the canary). */
  const notify = async (event: CanaryEventName, summary: string) => {
    if (!v2) return
    notifications++
    await CancellationScope.nonCancellable(() =>
      notifier.notifyCanary({
        canaryId: input.canaryId,
        event,
        seq: notifications,
        state: status.state,
        summary,
        details: { weight: status.weight, reason: status.reason, evidence: brief(status.analysis) },
      }),
    ).catch(() => undefined)
  }
  /**
   * Take the candidate off traffic; while baking, put production back on the previous version.
   * Never interrupted by a cancel: a half-done rollback must not be mistaken for a bake to end.
   * Returns why production could not be restored, if it could not.
   */
  const undo = (reason: string, actor: string, evidence: Record<string, unknown> | null) => {
    const run = async (): Promise<string | null> => {
      let conflict: string | null = null
      if (status.state === 'baking' && status.previousVersionId) {
        conflict = (
          await guarded.bakeRollback({
            canaryId: input.canaryId,
            previousVersionId: status.previousVersionId,
            reason,
            evidence,
          })
        ).conflict
        status.reason = conflict ? `${reason} (production was not restored: ${conflict})` : reason
      } else {
        await guarded.rollbackCanary({ canaryId: input.canaryId, reason, actor, evidence })
        status.reason = reason
      }
      status.state = 'rolled_back'
      status.weight = 0
      return conflict
    }
    return v2 ? CancellationScope.nonCancellable(run) : run()
  }
  /** Decisions accepted but not carried out are refused as soon as the canary ends (before any webhook). */
  const refusePending = () => {
    for (let p = pending as Pending | null; p && !p.settled; p = pending as Pending | null) {
      const refused =
        late && p.decision === 'reject' && status.state === 'promoted'
          ? `${noLongerRejectable(status, config, late.approval)}; the reject was not applied and nothing was recorded`
          : `canary ${input.canaryId} ended (${status.state}) before the ${p.decision} could be applied: ${status.reason ?? ''}`
      settle(p, { refused })
    }
  }
  const rolledBack = () => notify('rolled_back', `Canary ${input.canaryId} was rolled back: ${status.reason ?? ''}`)
  const rollback = async (reason: string, actor: string, evidence: Record<string, unknown> | null) => {
    await undo(reason, actor, evidence)
    refusePending()
    await rolledBack()
  }
  /** Record the analysis' alerts; tell people when their kinds change (not at every look). */
  const reportAlerts = async (analysis: CanaryAnalysis) => {
    status.alerts = analysis.alerts ?? []
    const kinds = [...(analysis.alertKinds ?? [])].sort()
    if (kinds.join(',') === (status.alertKinds ?? []).join(',')) return
    status.alertKinds = kinds
    await notify(
      'alert',
      kinds.length > 0
        ? `Canary ${input.canaryId}: ${status.alerts.join('; ')}`
        : `Canary ${input.canaryId}: alerts cleared`,
    )
  }
  const end = async () => {
    refusePending()
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
      const record = noteDecision(p, approvalId)
      const said = p.input.comment ? `: ${p.input.comment}` : ''
      if (p.decision === 'approve') {
        const promotion = await guarded.promoteCanary({
          canaryId: input.canaryId,
          approver: p.input.approver,
          approvalId,
        })
        if (promotion.promoted === false) {
          await undo(`approved by ${p.input.approver}, but not promoted: ${promotion.conflict}`, 'kaizen', p.evidence)
          settle(p, { refused: status.reason as string })
          await rolledBack()
          return
        }
        status.state = 'promoted'
        status.weight = 0
        status.reason = `approved by ${p.input.approver}${said}`
        status.previousVersionId = promotion.previousVersionId ?? input.baselineVersionId
        // From here until the bake window starts, a reject is still accepted (late rule).
        if (late)
          late.bakeAhead = v2 && config.bake.seconds > 0 && status.previousVersionId !== input.candidateVersionId
      } else {
        await undo(`rejected by ${p.input.approver}${said}`, p.input.approver, p.evidence)
      }
      const productionVersionId = p.decision === 'approve' ? input.candidateVersionId : input.baselineVersionId
      const summary =
        p.decision === 'approve'
          ? `approved by ${p.input.approver}: promoted, production is now ${productionVersionId}${late?.bakeAhead ? `; a ${config.bake.seconds} s bake window follows with ${Math.round(config.bake.holdbackWeight * 100)}% of traffic held back on ${status.previousVersionId} (a reject until it ends rolls production back)` : ''}`
          : `rejected by ${p.input.approver}: rolled back, production stays ${productionVersionId}`
      // Answer the human first; webhooks can be slow.
      settle(p, {
        outcome: {
          canaryId: input.canaryId,
          state: status.state,
          decision: p.decision,
          approver: p.input.approver,
          approvalId,
          productionVersionId,
          ...(record ? { summary, decidedAt: record.at } : {}),
        },
      })
      if (p.decision === 'approve')
        await notify('promoted', `Canary ${input.canaryId} was promoted to production (${status.reason})`)
      else await rolledBack()
    })

  /** End the bake window with production on the candidate; the holdback (if still ours) is removed. */
  const finishBake = async (why: string) => {
    await guarded.endBake({ canaryId: input.canaryId, reason: why })
    status.state = 'promoted'
    status.weight = 0
    status.reason = why
    refusePending()
    await notify('baked', `Canary ${input.canaryId}: ${why}; production stays on ${input.candidateVersionId}`)
  }

  /** After promotion: compare production with a holdback on the previous version for a while. */
  const bake = async (): Promise<void> => {
    if (
      !v2 ||
      config.bake.seconds <= 0 ||
      !status.previousVersionId ||
      status.previousVersionId === input.candidateVersionId
    )
      return
    if (late) late.bakeAhead = false
    if (status.state !== 'baking') {
      // From here on a cancel or failure removes the holdback; it never undoes the promotion.
      status.state = 'baking'
      status.weight = config.bake.holdbackWeight
      status.reason = `baking for ${config.bake.seconds} s: ${Math.round(config.bake.holdbackWeight * 100)}% of traffic stays on ${status.previousVersionId}`
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
        await guarded.setCanaryState({
          canaryId: input.canaryId,
          state: status.state,
          reason: status.reason,
          ended: true,
        })
        return
      }
      bakeSince = started.startedAt
    }
    /** A `reject` while baking: a manual rollback of production. */
    const manualRollback = (p: Pending) =>
      CancellationScope.nonCancellable(async () => {
        const { approvalId } = await guarded.recordApproval({
          canaryId: input.canaryId,
          decision: 'reject',
          approver: p.input.approver,
          role: p.input.role ?? null,
          comment: p.input.comment ?? null,
          requestId: p.requestId,
          evidence: p.evidence,
        })
        const conflict = await undo(
          `rolled back during the bake window by ${p.input.approver}: ${p.input.comment ?? ''}`,
          p.input.approver,
          p.evidence,
        )
        status.decidedBy = p.input.approver
        const record = noteDecision(p, approvalId)
        const summary = `rejected by ${p.input.approver} during the bake window: rolled back, production is back on ${status.previousVersionId}`
        if (conflict) settle(p, { refused: status.reason as string })
        else
          settle(p, {
            outcome: {
              canaryId: input.canaryId,
              state: status.state,
              decision: 'reject',
              approver: p.input.approver,
              approvalId,
              productionVersionId: status.previousVersionId ?? null,
              ...(record ? { summary, decidedAt: record.at } : {}),
            },
          })
        await rolledBack()
      })
    for (;;) {
      await condition(() => pending !== null || supersededBy !== null, intervalMs)
      if (pending !== null) return manualRollback(pending) // only `reject` is valid while baking
      if (supersededBy !== null) return finishBake(`bake window cut short: superseded by ${supersededBy}`)
      status.bakeSeconds = (status.bakeSeconds ?? 0) + config.analysisIntervalSeconds
      const evidence = await guardedBatch.analyzeCanary({ canaryId: input.canaryId, phase: 'bake', since: bakeSince })
      status.analysis = evidence.analysis
      status.analyzedAt = evidence.at
      status.analyses++
      // Evidence of a regression counts even if the holdback was just taken away.
      if (evidence.analysis.verdict === 'rollback') {
        return rollback(`regression during the bake window: ${evidence.analysis.reasons.join('; ')}`, 'kaizen', {
          analysis: evidence.analysis,
        })
      }
      if (evidence.labelHeld === false) {
        // Someone else took the canary label: there is no holdback to compare with any more.
        return finishBake('bake window ended early: the holdback label was moved away from this canary')
      }
      await reportAlerts(evidence.analysis)
      // A reject that arrived during the last look is still carried out.
      if ((pending as Pending | null) !== null) return manualRollback(pending as unknown as Pending)
      if ((status.bakeSeconds ?? 0) >= config.bake.seconds) break
      if (workflowInfo().continueAsNewSuggested) {
        await condition(() => allHandlersFinished() || pending !== null)
        if (pending === null)
          await continueAsNew<typeof canaryRelease>({
            ...input,
            resume: { status, stepSamples, stepSeconds, bakeSince, notifications },
          })
      }
    }
    await finishBake(`bake window of ${config.bake.seconds} s passed without regression`)
  }

  try {
    if (status.state === 'starting') {
      const begun = await guarded.beginCanary({
        ...input,
        config,
        weight: status.weight,
        supersedes: input.supersedes ?? null,
      })
      if (begun.conflict) {
        status.state = 'rolled_back'
        status.reason = `not started: ${begun.conflict}`
        await guarded.setCanaryState({
          canaryId: input.canaryId,
          state: status.state,
          reason: status.reason,
          ended: true,
        })
        return await end()
      }
      status.state = 'running'
    }
    if (status.state === 'baking' || status.state === 'promoted') {
      await bake()
      return await end()
    }
    for (;;) {
      await condition(() => pending !== null || supersededBy !== null, intervalMs)

      if (pending !== null) {
        const decision = (pending as Pending).decision
        if (v2 && decision === 'approve' && status.alertKinds?.includes('sample-ratio')) {
          // Accepted just before the check failed: the evidence it approved is now suspect.
          settle(pending, {
            refused: `the sample-ratio check failed after this approval was sent (${(status.alerts ?? []).join('; ')}); nothing was recorded`,
          })
          continue
        }
        await decide(pending)
        if (decision === 'approve' && (status.state as CanaryStatus['state']) === 'promoted') await bake()
        return await end()
      }
      if (supersededBy !== null) {
        await rollback(
          `superseded by ${supersededBy}`,
          'kaizen',
          status.analysis ? { analysis: status.analysis } : null,
        )
        return await end()
      }

      // Analyse: the rollback test stays armed in every state.
      const evidence = await guardedBatch.analyzeCanary({ canaryId: input.canaryId })
      status.analysis = evidence.analysis
      status.analyzedAt = evidence.at
      status.analyses++
      stepSeconds += config.analysisIntervalSeconds
      if (evidence.labelHeld === false) {
        status.state = 'rolled_back'
        status.reason = 'the canary label was moved away from this canary; it no longer serves traffic'
        await guarded.setCanaryState({
          canaryId: input.canaryId,
          state: status.state,
          reason: status.reason,
          ended: true,
        })
        return await end()
      }
      const analysis = evidence.analysis
      const verdict = analysis.verdict
      if (verdict === 'rollback') {
        await rollback(`automatic rollback: ${analysis.reasons.join('; ')}`, 'kaizen', { analysis })
        return await end()
      }
      if (v2) {
        await reportAlerts(analysis)
        // Alerts (skewed split, missing traffic) pause the ramp until they clear; they never roll back.
        if (status.state === 'running' && verdict === 'hold') {
          status.state = 'holding'
          status.heldFrom = 'running'
          status.reason = analysis.reasons.join('; ')
          await guarded.setCanaryState({ canaryId: input.canaryId, state: status.state, reason: status.reason })
        } else if (status.state === 'holding' && status.heldFrom === 'running' && verdict !== 'hold') {
          status.state = 'running'
          status.heldFrom = null
          status.holdSeconds = 0
          status.reason = 'alerts cleared; the ramp continues'
          await guarded.setCanaryState({ canaryId: input.canaryId, state: status.state, reason: status.reason })
        } else if (status.state === 'holding' && status.heldFrom === 'running') {
          // A hold nobody resolves (a sample-ratio mismatch does not clear by itself) follows the
          // approval-timeout policy.
          status.holdSeconds = (status.holdSeconds ?? 0) + config.analysisIntervalSeconds
          if (status.holdSeconds >= config.approvalTimeoutSeconds && config.onApprovalTimeout === 'rollback') {
            await rollback(
              `held on alerts for ${config.approvalTimeoutSeconds} s (${(status.alerts ?? []).join('; ')}): rolled back by policy`,
              'kaizen',
              { analysis },
            )
            return await end()
          }
        }
      }

      const step = status.step ?? 0
      const lastStep = step >= steps.length - 1
      // The last step needs its own evidence too before a human is asked.
      const stepDone =
        analysis.pairedSamples - stepSamples >= config.minSamplesPerStep && stepSeconds >= config.minStepSeconds
      if (status.state === 'running' && !lastStep && verdict !== 'hold') {
        // Ramp: widen exposure once this step has enough evidence and no harm.
        if (stepDone) {
          const ramped = v2
            ? await guarded.setCanaryWeight({
                canaryId: input.canaryId,
                weight: steps[step + 1] as number,
                step: step + 1,
              })
            : { conflict: null }
          if (!ramped.conflict) {
            status.step = step + 1
            status.weight = steps[step + 1] as number
            stepSamples = analysis.pairedSamples
            stepSeconds = 0
          }
        }
      } else if (
        status.state === 'running' &&
        lastStep &&
        (verdict === 'ready' || verdict === 'inconclusive') &&
        (stepDone || !v2)
      ) {
        status.state = verdict === 'ready' ? 'awaiting_approval' : 'holding'
        status.reason = analysis.reasons.join('; ')
        await guarded.setCanaryState({ canaryId: input.canaryId, state: status.state, reason: status.reason })
        await notify(
          verdict === 'ready' ? 'approval_needed' : 'inconclusive',
          `Canary ${input.canaryId} needs a human decision: ${status.reason}`,
        )
      } else if (status.state === 'awaiting_approval') {
        status.approvalWaitSeconds += config.analysisIntervalSeconds
        if (status.approvalWaitSeconds >= config.approvalTimeoutSeconds) {
          const waited = `no approval within ${config.approvalTimeoutSeconds} s`
          if (config.onApprovalTimeout === 'rollback') {
            await rollback(`${waited}: rolled back by policy`, 'kaizen', { analysis })
            return await end()
          }
          status.state = 'holding'
          status.reason = `${waited}: holding at ${Math.round(status.weight * 100)}% until a human decides`
          await guarded.setCanaryState({ canaryId: input.canaryId, state: status.state, reason: status.reason })
          await notify('inconclusive', `Canary ${input.canaryId}: ${status.reason}`)
        }
      }

      if (workflowInfo().continueAsNewSuggested) {
        // A decision arriving now is handled in this run first; handlers must be done before moving on.
        await condition(() => allHandlersFinished() || pending !== null)
        if (pending !== null) continue
        return await continueAsNew<typeof canaryRelease>({
          ...input,
          resume: { status, stepSamples, stepSeconds, bakeSince, notifications },
        })
      }
    }
  } catch (err) {
    if (err instanceof ContinueAsNew) throw err
    // Never leave the candidate on live traffic without monitoring.
    if (!ENDED.has(status.state)) {
      const why = isCancellation(err)
        ? 'canary workflow cancelled'
        : `canary workflow failed: ${late ? rootCause(err) : rootMessage(err)}`
      // While baking, production is the approved candidate: only the holdback goes.
      const stop =
        status.state === 'baking'
          ? () => finishBake(`bake window stopped (${why})`)
          : () => rollback(why, 'kaizen', null)
      await CancellationScope.nonCancellable(stop).catch(() => undefined)
    }
    for (let p = pending as Pending | null; p && !p.settled; p = pending as Pending | null)
      settle(p, {
        refused: `canary ${input.canaryId} stopped before the ${p.decision} could be applied: ${rootMessage(err)}`,
      })
    throw err
  }
}
