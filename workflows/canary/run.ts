/**
 * @module workflows/canary/run
 * `CanaryRun`: the state of one canary release and the actions that change it (notify, roll back,
 * carry out a human decision, end). The ramp (`ramp.ts`) and the bake window (`bake.ts`) drive it;
 * `approval.ts` validates and queues human decisions.
 *
 * 👉 Every `patched()` branch of the canary is decided here, in the constructor:
 * - `canary-ramp-notify-bake` (`v2`): executions started before the ramp, notifications and bake
 *   existed keep their original path when they replay (one weight, no webhooks, no bake window);
 * - `canary-late-decisions` (`late`): the rule for decisions that arrive late (approval.ts);
 *   executions started before it keep the rules they started with.
 */
import { ApplicationFailure, CancellationScope, allHandlersFinished, condition, patched } from '@temporalio/workflow'
import type { CanaryIdentity } from '../../activities/canary.js'
import type { CanaryEventName } from '../../activities/notify.js'
import type { CanaryAnalysis } from '../../core/canary/analyze.js'
import { CanaryConfig, rampSteps, type CanaryConfig as CanaryConfigT } from '../../core/config.js'
import { formatPath } from '../../core/errors.js'
import { guarded, notifier } from '../activities.js'
import type { CanaryStatus, DecisionRecord } from '../messages.js'
import { noLongerRejectable, type LateDecisions, type Pending, type Settled } from './approval.js'

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

export const ENDED: ReadonlySet<CanaryStatus['state']> = new Set(['promoted', 'rolled_back'])

export function parseCanaryConfig(config: CanaryInput['config']): CanaryConfigT {
  const parsed = CanaryConfig.safeParse(config ?? {})
  if (!parsed.success) {
    throw ApplicationFailure.nonRetryable(
      `invalid canary config: ${parsed.error.issues.map((i) => `${formatPath(i.path)}: ${i.message}`).join('; ')}`,
      'INVALID_INPUT',
    )
  }
  return parsed.data
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

export class CanaryRun {
  readonly config: CanaryConfigT
  /** patched('canary-ramp-notify-bake') */
  readonly v2: boolean
  /** patched('canary-late-decisions'); null on executions started before it. */
  readonly late: LateDecisions | null
  readonly steps: number[]
  readonly intervalMs: number
  readonly status: CanaryStatus
  /** Paired samples when the current step began, and seconds spent on it. */
  stepSamples: number
  stepSeconds: number
  bakeSince: string | null
  notifications: number
  /** The human decision the main loop carries out next. */
  pending: Pending | null = null
  supersededBy: string | null = null

  constructor(readonly input: CanaryInput) {
    this.config = parseCanaryConfig(input.config)
    this.v2 = patched('canary-ramp-notify-bake')
    const lateRule = patched('canary-late-decisions')
    // Executions started before the ramp existed served one weight (0.1 by default then).
    this.steps = this.v2 ? rampSteps(this.config) : [this.config.weight ?? 0.1]
    this.intervalMs = Math.round(this.config.analysisIntervalSeconds * 1000)
    this.status = input.resume?.status ?? {
      canaryId: input.canaryId,
      taskId: input.taskId,
      campaignId: input.campaignId,
      state: 'starting',
      weight: this.steps[0] as number,
      steps: this.steps,
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
      ...(this.config.approvals > 1 ? { approvals: [], approvalsRequired: this.config.approvals } : {}),
    }
    this.late = lateRule
      ? {
          queued: null,
          bakeAhead: false,
          approval: this.status.decisions?.find((d) => d.decision === 'approve') ?? null,
        }
      : null
    this.stepSamples = input.resume?.stepSamples ?? 0
    this.stepSeconds = input.resume?.stepSeconds ?? 0
    this.bakeSince = input.resume?.bakeSince ?? null
    this.notifications = input.resume?.notifications ?? 0
  }

  /** What continue-as-new carries. */
  resume(): NonNullable<CanaryInput['resume']> {
    const { status, stepSamples, stepSeconds, bakeSince, notifications } = this
    return { status, stepSamples, stepSeconds, bakeSince, notifications }
  }

  /** Settle the decision being processed and make room for the next one (a reject waiting behind an approval). */
  settle(p: Pending, result: Settled) {
    p.settled = result
    if (this.pending === p) {
      this.pending = this.late?.queued ?? null
      if (this.late) this.late.queued = null
    }
  }

  /** Record a decision carried out (late rule: who, when, which approval). */
  noteDecision(p: Pending, approvalId: string): DecisionRecord | null {
    if (!this.late) return null
    const record: DecisionRecord = {
      decision: p.decision,
      approver: p.input.approver,
      role: p.input.role ?? null,
      approvalId,
      at: new Date().toISOString(),
    }
    this.status.decisions = [...(this.status.decisions ?? []), record]
    if (p.decision === 'approve') this.late.approval = record
    return record
  }

  /** Tell people (best effort: a webhook outage never stops the canary). */
  async notify(event: CanaryEventName, summary: string) {
    if (!this.v2) return
    this.notifications++
    const { status } = this
    await CancellationScope.nonCancellable(() =>
      notifier.notifyCanary({
        canaryId: this.input.canaryId,
        event,
        seq: this.notifications,
        state: status.state,
        summary,
        details: { weight: status.weight, reason: status.reason, evidence: brief(status.analysis) },
      }),
    ).catch(() => undefined)
  }

  /** Record a state change the ramp made (and, with `ended`, that the canary is over). */
  async recordState(ended?: true) {
    const { state, reason } = this.status
    await guarded.setCanaryState({ canaryId: this.input.canaryId, state, reason, ...(ended ? { ended } : {}) })
  }

  /**
   * Take the candidate off traffic; while baking, put production back on the previous version.
   * Never interrupted by a cancel: a half-done rollback must not be mistaken for a bake to end.
   * Returns why production could not be restored, if it could not.
   */
  undo(reason: string, actor: string, evidence: Record<string, unknown> | null): Promise<string | null> {
    const { status, input } = this
    const run = async (): Promise<string | null> => {
      let conflict: string | null = null
      if (status.state === 'baking' && status.previousVersionId) {
        const previousVersionId = status.previousVersionId
        conflict = (await guarded.bakeRollback({ canaryId: input.canaryId, previousVersionId, reason, evidence }))
          .conflict
        status.reason = conflict ? `${reason} (production was not restored: ${conflict})` : reason
      } else {
        await guarded.rollbackCanary({ canaryId: input.canaryId, reason, actor, evidence })
        status.reason = reason
      }
      status.state = 'rolled_back'
      status.weight = 0
      return conflict
    }
    return this.v2 ? CancellationScope.nonCancellable(run) : run()
  }

  /** Decisions accepted but not carried out are refused as soon as the canary ends (before any webhook). */
  refusePending() {
    const { status, late, config, input } = this
    for (let p = this.pending; p && !p.settled; p = this.pending) {
      const refused =
        late && p.decision === 'reject' && status.state === 'promoted'
          ? `${noLongerRejectable(status, config, late.approval)}; the reject was not applied and nothing was recorded`
          : `canary ${input.canaryId} ended (${status.state}) before the ${p.decision} could be applied: ` +
            (status.reason ?? '')
      this.settle(p, { refused })
    }
  }

  rolledBack() {
    return this.notify('rolled_back', `Canary ${this.input.canaryId} was rolled back: ${this.status.reason ?? ''}`)
  }

  async rollback(reason: string, actor: string, evidence: Record<string, unknown> | null) {
    await this.undo(reason, actor, evidence)
    this.refusePending()
    await this.rolledBack()
  }

  /** Record the analysis' alerts; tell people when their kinds change (not at every look). */
  async reportAlerts(analysis: CanaryAnalysis) {
    const { status } = this
    status.alerts = analysis.alerts ?? []
    const kinds = [...(analysis.alertKinds ?? [])].sort()
    if (kinds.join(',') === (status.alertKinds ?? []).join(',')) return
    status.alertKinds = kinds
    const id = this.input.canaryId
    await this.notify(
      'alert',
      kinds.length > 0 ? `Canary ${id}: ${status.alerts.join('; ')}` : `Canary ${id}: alerts cleared`,
    )
  }

  /** Record who decided (the audited approval row), before the decision is carried out. */
  recordApproval(p: Pending, count?: { n: number; of: number }) {
    return guarded.recordApproval({
      canaryId: this.input.canaryId,
      decision: p.decision,
      approver: p.input.approver,
      role: p.input.role ?? null,
      comment: p.input.comment ?? null,
      requestId: count ? `${p.requestId}-a${count.n}` : p.requestId,
      evidence: p.evidence,
      ...(count ? { count } : {}),
    })
  }

  async end() {
    this.refusePending()
    await condition(allHandlersFinished)
    return this.status
  }
}
