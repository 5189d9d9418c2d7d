/**
 * @module activities/canary/approval
 * A human's decision on a canary, and the promotion it allows.
 */
import { and, eq } from 'drizzle-orm'
import { KaizenError } from '../../core/errors.js'
import { appendAudit } from '../../db/queries/audit.js'
import { getLabels, moveLabel } from '../../db/queries/labels.js'
import { approvals, labelHistory } from '../../db/schema.js'
import type { CanaryContext } from './context.js'
import type { ApprovalRecord } from './types.js'

/** A human's decision, with the evidence they saw. Append-only. */
export async function recordApproval(ctx: CanaryContext, input: ApprovalRecord): Promise<{ approvalId: string }> {
  const { db } = ctx
  const canary = await ctx.canaryRow(input.canaryId)
  const approvalId = `apr_${input.canaryId}_${input.requestId}`.slice(0, 200)
  await db
    .insert(approvals)
    .values({
      id: approvalId,
      canaryId: input.canaryId,
      decision: input.decision,
      approver: input.approver,
      role: input.role,
      comment: input.comment,
      evidence: input.evidence,
    })
    .onConflictDoNothing({ target: approvals.id })
  await appendAudit(db, {
    eventKey: `approval:${approvalId}`,
    actor: input.approver,
    action: input.decision === 'approve' ? 'canary.approved' : 'canary.rejected',
    taskId: canary.taskId,
    subjectType: 'canary',
    subjectId: input.canaryId,
    details: {
      approvalId,
      approver: input.approver,
      role: input.role,
      comment: input.comment,
      evidence: input.evidence,
      ...(input.count ? { approval: `${input.count.n} of ${input.count.of}` } : {}),
    },
  })
  return { approvalId }
}

/**
 * Move production to the candidate — only after a recorded human approval, only while this
 * canary still holds its label, and only if production is still the baseline it was compared
 * with. Otherwise nothing moves and the conflict is returned.
 */
export async function promoteCanary(
  ctx: CanaryContext,
  input: { canaryId: string; approver: string; approvalId: string },
): Promise<{ promoted: boolean; conflict: string | null; previousVersionId: string | null }> {
  const { db } = ctx
  const canary = await ctx.canaryRow(input.canaryId)
  const approval = await db.query.approvals.findFirst({
    where: and(eq(approvals.id, input.approvalId), eq(approvals.decision, 'approve')),
  })
  if (!approval)
    throw new KaizenError('FORBIDDEN', `canary ${input.canaryId} cannot be promoted without a recorded approval`)
  const labels = await getLabels(db, canary.taskId)
  const promoted = await db.query.labelHistory.findFirst({
    where: eq(labelHistory.moveKey, `canary:${input.canaryId}:promote`),
  })
  if (!promoted && labels.canary?.canaryId !== input.canaryId) {
    return {
      promoted: false,
      conflict: `the canary label of "${canary.taskId}" no longer belongs to ${input.canaryId}`,
      previousVersionId: null,
    }
  }
  const move = await moveLabel(db, {
    moveKey: `canary:${input.canaryId}:promote`,
    taskId: canary.taskId,
    label: 'production',
    toVersionId: canary.candidateVersionId,
    weight: 1,
    canaryId: input.canaryId,
    reason: `canary ${input.canaryId} approved by ${input.approver}`,
    actor: input.approver,
    expect: { versionId: canary.baselineVersionId },
    audit: {
      action: 'canary.promoted',
      subjectType: 'canary',
      subjectId: input.canaryId,
      details: { approvalId: input.approvalId, approver: input.approver },
    },
  })
  if (move.conflict)
    return {
      promoted: false,
      conflict: `production changed while the canary ran: ${move.conflict}`,
      previousVersionId: null,
    }
  await ctx.releaseLabel(canary, 'promote-clear', `canary ${input.canaryId} promoted to production`, input.approver)
  await ctx.setState(input.canaryId, 'promoted', `approved by ${input.approver}`, true)
  return { promoted: true, conflict: null, previousVersionId: move.fromVersionId }
}
