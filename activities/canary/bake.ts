/**
 * @module activities/canary/bake
 * The bake window after a promotion: a holdback slice stays on the previous version for
 * comparison; it ends by removing the holdback, or by rolling production back.
 */
import { eq } from 'drizzle-orm'
import { appendAudit } from '../../db/queries/audit.js'
import { moveLabel } from '../../db/queries/labels.js'
import { labelHistory } from '../../db/schema.js'
import type { CanaryContext } from './context.js'

/** Bake window: route a holdback slice to the previous production version. */
export async function startBake(
  ctx: CanaryContext,
  input: { canaryId: string; previousVersionId: string; holdbackWeight: number },
): Promise<{ startedAt: string; conflict: string | null }> {
  const { db } = ctx
  const canary = await ctx.canaryRow(input.canaryId)
  const move = await moveLabel(db, {
    moveKey: `canary:${input.canaryId}:bake-start`,
    taskId: canary.taskId,
    label: 'canary',
    toVersionId: input.previousVersionId,
    weight: input.holdbackWeight,
    canaryId: input.canaryId,
    reason:
      `bake window: ${Math.round(input.holdbackWeight * 100)}% of traffic stays on the previous version ` +
      `${input.previousVersionId} for comparison`,
    actor: 'kaizen',
    expect: { absent: true, canaryIn: [input.canaryId] },
    audit: {
      action: 'canary.bake_started',
      subjectType: 'canary',
      subjectId: input.canaryId,
      details: { previousVersionId: input.previousVersionId },
    },
  })
  if (!move.conflict)
    await ctx.setState(input.canaryId, 'baking', 'promoted; comparing with the previous version during the bake window')
  const history = await db.query.labelHistory.findFirst({
    where: eq(labelHistory.moveKey, `canary:${input.canaryId}:bake-start`),
  })
  return { startedAt: (history?.at ?? new Date()).toISOString(), conflict: move.conflict }
}

/** The bake window is over (passed, or cut short): remove the holdback; production stays. */
export async function endBake(ctx: CanaryContext, input: { canaryId: string; reason?: string }): Promise<void> {
  const canary = await ctx.canaryRow(input.canaryId)
  const reason = input.reason ?? `bake window of canary ${input.canaryId} passed without regression`
  await ctx.releaseLabel(canary, 'bake-end', reason, 'kaizen', {
    action: 'canary.baked',
    subjectType: 'canary',
    subjectId: input.canaryId,
    details: { reason },
  })
  await ctx.setState(input.canaryId, 'promoted', reason, true)
}

/** A regression during the bake window: production goes back to the previous version. */
export async function bakeRollback(
  ctx: CanaryContext,
  input: { canaryId: string; previousVersionId: string; reason: string; evidence: Record<string, unknown> | null },
): Promise<{ conflict: string | null }> {
  const { db } = ctx
  const canary = await ctx.canaryRow(input.canaryId)
  const back = await moveLabel(db, {
    moveKey: `canary:${input.canaryId}:bake-rollback`,
    taskId: canary.taskId,
    label: 'production',
    toVersionId: input.previousVersionId,
    weight: 1,
    canaryId: input.canaryId,
    reason: input.reason,
    actor: 'kaizen',
    expect: { versionId: canary.candidateVersionId },
    audit: {
      action: 'canary.bake_rolled_back',
      subjectType: 'canary',
      subjectId: input.canaryId,
      details: { evidence: input.evidence },
    },
  })
  await ctx.releaseLabel(canary, 'bake-rollback-clear', input.reason, 'kaizen')
  await appendAudit(db, {
    eventKey: `canary:${input.canaryId}:rolled-back`,
    actor: 'kaizen',
    action: 'canary.rolled_back',
    taskId: canary.taskId,
    subjectType: 'canary',
    subjectId: input.canaryId,
    details: {
      reason: input.reason,
      phase: 'bake',
      restoredVersionId: back.conflict ? null : input.previousVersionId,
      conflict: back.conflict,
      evidence: input.evidence,
    },
  })
  await ctx.setState(
    input.canaryId,
    'rolled_back',
    back.conflict ? `${input.reason} (production was not restored: ${back.conflict})` : input.reason,
    true,
  )
  return { conflict: back.conflict }
}
