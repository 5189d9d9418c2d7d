/**
 * @module activities/canary/lifecycle
 * Start a canary (only with a trusted grader), ramp it, roll it back, and set its state.
 */
import { eq } from 'drizzle-orm'
import { KaizenError } from '../../core/errors.js'
import { appendAudit } from '../../db/queries/audit.js'
import { moveLabel } from '../../db/queries/labels.js'
import { getPromptVersion } from '../../db/queries/prompts.js'
import { canaries } from '../../db/schema.js'
import { graderTrustCheck } from '../../evaluation/calibration.js'
import type { CanaryContext } from './context.js'
import type { BeginCanaryInput } from './types.js'

/**
 * Only a trusted grader (or an audited override) may judge a canary: the reason it may not, or
 * null. A use of an override is audited.
 */
async function untrustedGrader({ db }: CanaryContext, input: BeginCanaryInput): Promise<string | null> {
  const trust = await graderTrustCheck(db, input.graderVersionId)
  if (!trust.ok) {
    await appendAudit(db, {
      eventKey: `canary:${input.canaryId}:refused-untrusted-grader`,
      actor: 'kaizen',
      action: 'canary.refused',
      taskId: input.taskId,
      subjectType: 'canary',
      subjectId: input.canaryId,
      details: {
        graderVersionId: input.graderVersionId,
        reason: trust.reason,
        candidateVersionId: input.candidateVersionId,
      },
    })
    return trust.reason
  }
  if (trust.via === 'override') {
    await appendAudit(db, {
      eventKey: `canary:${input.canaryId}:gated-by-override`,
      actor: 'kaizen',
      action: 'canary.grader-override-used',
      taskId: input.taskId,
      subjectType: 'canary',
      subjectId: input.canaryId,
      details: { graderVersionId: input.graderVersionId, reason: trust.reason },
    })
  }
  return null
}

/** Record the canary and route `weight` of the task's traffic to the candidate. */
export async function beginCanary(
  ctx: CanaryContext,
  input: BeginCanaryInput,
): Promise<{ startedAt: string; conflict: string | null }> {
  const { db } = ctx
  const candidate = await getPromptVersion(db, input.candidateVersionId)
  if (candidate.taskId !== input.taskId)
    throw new KaizenError(
      'INVALID_INPUT',
      `version ${candidate.id} belongs to task ${candidate.taskId}, not ${input.taskId}`,
    )
  // A retry of a canary that already started is not re-checked: it holds its label.
  const started = await db.query.canaries.findFirst({ where: eq(canaries.id, input.canaryId) })
  if (!started) {
    const refused = await untrustedGrader(ctx, input)
    if (refused !== null) return { startedAt: new Date().toISOString(), conflict: refused }
  }
  await db
    .insert(canaries)
    .values({
      id: input.canaryId,
      taskId: input.taskId,
      campaignId: input.campaignId,
      candidateVersionId: input.candidateVersionId,
      baselineVersionId: input.baselineVersionId,
      graderVersionId: input.graderVersionId,
      state: 'running',
      weight: input.weight,
      config: input.config as unknown as Record<string, unknown>,
    })
    .onConflictDoNothing({ target: canaries.id })
  // Take the label only if it is free, already ours (a retry), or held by the canary we replace.
  const move = await moveLabel(db, {
    moveKey: `canary:${input.canaryId}:start`,
    taskId: input.taskId,
    label: 'canary',
    toVersionId: input.candidateVersionId,
    weight: input.weight,
    canaryId: input.canaryId,
    reason: `canary ${input.canaryId} started at ${Math.round(input.weight * 100)}% of traffic`,
    actor: 'kaizen',
    expect: { absent: true, canaryIn: [input.canaryId, ...(input.supersedes ? [input.supersedes] : [])] },
    audit: {
      action: 'canary.started',
      subjectType: 'canary',
      subjectId: input.canaryId,
      details: {
        candidateVersionId: input.candidateVersionId,
        baselineVersionId: input.baselineVersionId,
        campaignId: input.campaignId,
        supersedes: input.supersedes,
      },
    },
  })
  const row = await ctx.canaryRow(input.canaryId)
  return { startedAt: row.startedAt.toISOString(), conflict: move.conflict }
}

/** Next ramp step: route `weight` of traffic to the candidate (only while the label is ours). */
export async function setCanaryWeight(
  ctx: CanaryContext,
  input: { canaryId: string; weight: number; step: number },
): Promise<{ conflict: string | null }> {
  const { db } = ctx
  const canary = await ctx.canaryRow(input.canaryId)
  const move = await moveLabel(db, {
    moveKey: `canary:${input.canaryId}:step:${input.step}`,
    taskId: canary.taskId,
    label: 'canary',
    toVersionId: canary.candidateVersionId,
    weight: input.weight,
    canaryId: input.canaryId,
    reason: `canary ${input.canaryId} ramped to ${Math.round(input.weight * 100)}% (step ${input.step + 1})`,
    actor: 'kaizen',
    expect: { canaryIn: [input.canaryId] },
    audit: {
      action: 'canary.ramped',
      subjectType: 'canary',
      subjectId: input.canaryId,
      details: { step: input.step },
    },
  })
  if (!move.conflict) await db.update(canaries).set({ weight: input.weight }).where(eq(canaries.id, input.canaryId))
  return { conflict: move.conflict }
}

/** Take the candidate off live traffic at once. */
export async function rollbackCanary(
  ctx: CanaryContext,
  input: { canaryId: string; reason: string; actor: string; evidence: Record<string, unknown> | null },
): Promise<void> {
  const canary = await ctx.canaryRow(input.canaryId)
  await ctx.releaseLabel(canary, 'rollback', input.reason, input.actor, {
    action: 'label.canary.removed',
    subjectType: 'canary',
    subjectId: input.canaryId,
  })
  // Written even when the label had already moved away (e.g. a superseding canary took it).
  await appendAudit(ctx.db, {
    eventKey: `canary:${input.canaryId}:rolled-back`,
    actor: input.actor,
    action: 'canary.rolled_back',
    taskId: canary.taskId,
    subjectType: 'canary',
    subjectId: input.canaryId,
    details: { reason: input.reason, candidateVersionId: canary.candidateVersionId, evidence: input.evidence },
  })
  await ctx.setState(input.canaryId, 'rolled_back', input.reason, true)
}

export async function setCanaryState(
  ctx: CanaryContext,
  input: { canaryId: string; state: string; reason: string | null; ended?: boolean },
): Promise<void> {
  await ctx.setState(input.canaryId, input.state, input.reason, input.ended ?? false)
}
