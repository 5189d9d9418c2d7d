/**
 * @module workflows/canary/decide
 * Carry out a human decision the validator accepted (approval.ts): record who decided, on what
 * evidence, then promote or roll back, without interruption by a cancel. The human gets the
 * outcome before any webhook is sent.
 */
import { CancellationScope } from '@temporalio/workflow'
import { guarded } from '../activities.js'
import type { Pending } from './approval.js'
import type { CanaryRun } from './run.js'

/** An approval or a reject while the canary ramps or waits for a human. */
export async function decide(run: CanaryRun, p: Pending): Promise<'waiting' | 'decided'> {
  const { status, input, config, late } = run
  const soFar = status.approvals?.length ?? 0
  if (p.decision === 'approve' && soFar + 1 < config.approvals) {
    await approveInPart(run, p, soFar + 1)
    return 'waiting'
  }
  await CancellationScope.nonCancellable(async () => {
    const { approvalId } = await run.recordApproval(
      p,
      config.approvals > 1 ? { n: soFar + 1, of: config.approvals } : undefined,
    )
    status.decidedBy = p.input.approver
    const record = run.noteDecision(p, approvalId)
    const said = p.input.comment ? `: ${p.input.comment}` : ''
    if (p.decision === 'approve') {
      const promotion = await guarded.promoteCanary({
        canaryId: input.canaryId,
        approver: p.input.approver,
        approvalId,
      })
      if (promotion.promoted === false) {
        await run.undo(`approved by ${p.input.approver}, but not promoted: ${promotion.conflict}`, 'kaizen', p.evidence)
        run.settle(p, { refused: status.reason as string })
        await run.rolledBack()
        return
      }
      status.state = 'promoted'
      status.weight = 0
      status.reason = `approved by ${p.input.approver}${said}`
      status.previousVersionId = promotion.previousVersionId ?? input.baselineVersionId
      // From here until the bake window starts, a reject is still accepted (late rule).
      if (late)
        late.bakeAhead = run.v2 && config.bake.seconds > 0 && status.previousVersionId !== input.candidateVersionId
    } else {
      await run.undo(`rejected by ${p.input.approver}${said}`, p.input.approver, p.evidence)
    }
    const productionVersionId = p.decision === 'approve' ? input.candidateVersionId : input.baselineVersionId
    const bakeNote = late?.bakeAhead
      ? `; a ${config.bake.seconds} s bake window follows with ${Math.round(config.bake.holdbackWeight * 100)}% ` +
        `of traffic held back on ${status.previousVersionId} (a reject until it ends rolls production back)`
      : ''
    const summary =
      p.decision === 'approve'
        ? `approved by ${p.input.approver}: promoted, production is now ${productionVersionId}${bakeNote}`
        : `rejected by ${p.input.approver}: rolled back, production stays ${productionVersionId}`
    // Answer the human first; webhooks can be slow.
    run.settle(p, {
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
      await run.notify('promoted', `Canary ${input.canaryId} was promoted to production (${status.reason})`)
    else await run.rolledBack()
  })
  return 'decided'
}

/**
 * An approval that is not the last one a policy of several approvers needs (four-eyes): recorded,
 * and the canary keeps waiting for another person. Nothing moves.
 */
function approveInPart(run: CanaryRun, p: Pending, n: number) {
  const { status, input, config } = run
  return CancellationScope.nonCancellable(async () => {
    const { approvalId } = await run.recordApproval(p, { n, of: config.approvals })
    const record = {
      decision: 'approve' as const,
      approver: p.input.approver,
      role: p.input.role ?? null,
      approvalId,
      at: new Date().toISOString(),
    }
    status.approvals = [...(status.approvals ?? []), record]
    status.reason =
      `approved by ${status.approvals.map((a) => a.approver).join(', ')} (${n} of ${config.approvals}): ` +
      'waiting for another person to approve'
    run.settle(p, {
      outcome: {
        canaryId: input.canaryId,
        state: status.state,
        decision: 'approve',
        approver: p.input.approver,
        approvalId,
        productionVersionId: input.baselineVersionId,
        summary:
          `approval ${n} of ${config.approvals} recorded by ${p.input.approver}: another person must approve ` +
          `before the canary is promoted; production stays ${input.baselineVersionId}`,
        decidedAt: record.at,
      },
    })
  })
}

/** A `reject` while baking: a manual rollback of production. */
export function manualRollback(run: CanaryRun, p: Pending) {
  const { status, input } = run
  return CancellationScope.nonCancellable(async () => {
    const { approvalId } = await run.recordApproval(p)
    const conflict = await run.undo(
      `rolled back during the bake window by ${p.input.approver}: ${p.input.comment ?? ''}`,
      p.input.approver,
      p.evidence,
    )
    status.decidedBy = p.input.approver
    const record = run.noteDecision(p, approvalId)
    const summary =
      `rejected by ${p.input.approver} during the bake window: rolled back, ` +
      `production is back on ${status.previousVersionId}`
    if (conflict) run.settle(p, { refused: status.reason as string })
    else
      run.settle(p, {
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
    await run.rolledBack()
  })
}
