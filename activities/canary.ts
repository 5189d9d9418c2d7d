/**
 * @module activities/canary
 * The I/O steps of a canary release: move labels, grade the live traffic of both arms, run the
 * sequential analysis, record approvals, promote or roll back. Every label move, approval and
 * rollback writes an audit event; every write is keyed so a retry happens once.
 */
import { heartbeat } from '@temporalio/activity'
import { and, asc, eq, gte, inArray, sql } from 'drizzle-orm'
import { analyzeCanary, type CanaryAnalysis } from '../core/canary/analyze.js'
import { parseCanaryConfig, type CanaryConfig } from '../core/config.js'
import { KaizenError } from '../core/errors.js'
import { appendAudit } from '../db/queries/audit.js'
import { getGraderSpec } from '../db/queries/graders.js'
import { getLabels, moveLabel, type LabelMove } from '../db/queries/labels.js'
import { getPromptVersion } from '../db/queries/prompts.js'
import { approvals, canaries, labelHistory, scores, traffic } from '../db/schema.js'
import type { ActivityDeps } from './deps.js'
import { graderTrustCheck } from '../evaluation/calibration.js'
import { gradeTraffic } from '../evaluation/grade-traffic.js'

/** What a canary is: which candidate against which baseline, graded by which grader version. */
export interface CanaryIdentity {
  canaryId: string
  taskId: string
  campaignId: string | null
  candidateVersionId: string
  baselineVersionId: string
  graderVersionId: string
}

export interface BeginCanaryInput extends CanaryIdentity {
  config: CanaryConfig
  /** Initial share of traffic (the ramp's first step). */
  weight: number
  /** The canary this one replaces: its label may be taken over. */
  supersedes: string | null
}

export type CanaryPhase = 'canary' | 'bake'

export interface CanaryEvidence {
  at: string
  analysis: CanaryAnalysis
  /** False once the canary label no longer belongs to this canary (moved by someone else). */
  labelHeld: boolean
}

export interface ApprovalRecord {
  canaryId: string
  decision: 'approve' | 'reject'
  approver: string
  role: string | null
  comment: string | null
  /** Idempotency: the Update's id. */
  requestId: string
  evidence: Record<string, unknown>
}

export function createCanaryActivities(deps: ActivityDeps) {
  const { db } = deps

  async function canaryRow(canaryId: string) {
    const row = await db.query.canaries.findFirst({ where: eq(canaries.id, canaryId) })
    if (!row) throw new KaizenError('NOT_FOUND', `unknown canary "${canaryId}"`)
    return row
  }

  /** Take this canary's label off traffic — only if it still holds it. */
  function releaseLabel(
    canary: { id: string; taskId: string },
    step: string,
    reason: string,
    actor: string,
    audit?: LabelMove['audit'],
  ) {
    return moveLabel(db, {
      moveKey: `canary:${canary.id}:${step}`,
      taskId: canary.taskId,
      label: 'canary',
      toVersionId: null,
      weight: 0,
      canaryId: canary.id,
      reason,
      actor,
      expect: { canaryIn: [canary.id] },
      ...(audit ? { audit } : {}),
    })
  }

  async function setState(canaryId: string, state: string, reason: string | null, ended = false) {
    await db
      .update(canaries)
      .set({ state, reason, ...(ended ? { endedAt: new Date() } : {}) })
      .where(eq(canaries.id, canaryId))
  }

  return {
    /** Record the canary and route `weight` of the task's traffic to the candidate. */
    async beginCanary(input: BeginCanaryInput): Promise<{ startedAt: string; conflict: string | null }> {
      const candidate = await getPromptVersion(db, input.candidateVersionId)
      if (candidate.taskId !== input.taskId)
        throw new KaizenError(
          'INVALID_INPUT',
          `version ${candidate.id} belongs to task ${candidate.taskId}, not ${input.taskId}`,
        )
      // Only a trusted grader (or an audited override) may gate a canary. A retry of a canary that
      // already started is not re-checked: it holds its label.
      const started = await db.query.canaries.findFirst({ where: eq(canaries.id, input.canaryId) })
      if (!started) {
        const gate = await graderTrustCheck(db, input.graderVersionId)
        if (!gate.ok) {
          await appendAudit(db, {
            eventKey: `canary:${input.canaryId}:refused-untrusted-grader`,
            actor: 'kaizen',
            action: 'canary.refused',
            taskId: input.taskId,
            subjectType: 'canary',
            subjectId: input.canaryId,
            details: {
              graderVersionId: input.graderVersionId,
              reason: gate.reason,
              candidateVersionId: input.candidateVersionId,
            },
          })
          return { startedAt: new Date().toISOString(), conflict: gate.reason }
        }
        if (gate.via === 'override') {
          await appendAudit(db, {
            eventKey: `canary:${input.canaryId}:gated-by-override`,
            actor: 'kaizen',
            action: 'canary.grader-override-used',
            taskId: input.taskId,
            subjectType: 'canary',
            subjectId: input.canaryId,
            details: { graderVersionId: input.graderVersionId, reason: gate.reason },
          })
        }
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
      const row = await canaryRow(input.canaryId)
      return { startedAt: row.startedAt.toISOString(), conflict: move.conflict }
    },

    /**
     * Grade ungraded live requests of both arms, then run the sequential analysis. In the bake
     * phase the arm under test is production (the promoted candidate) and the reference is the
     * holdback on the previous version, counted from the bake's start.
     */
    async analyzeCanary(input: {
      canaryId: string
      phase?: CanaryPhase
      since?: string | null
    }): Promise<CanaryEvidence> {
      const canary = await canaryRow(input.canaryId)
      // Stored configs may predate settings added since: parsing fills their defaults.
      const config = parseCanaryConfig(canary.config, `stored config of canary ${canary.id}`)
      const spec = await getGraderSpec(db, canary.graderVersionId)
      const since = input.since ? new Date(input.since) : canary.startedAt
      const bake = input.phase === 'bake'
      // Read the clock first: every row read below was written before it, so no block that closes
      // by this clock can still gain rows (blocks close by the clock that stamps traffic).
      const now = (await db.execute(sql`SELECT now() AS now`)) as unknown as { rows: Array<{ now: Date | string }> }
      const dbNow = new Date(now.rows[0]?.now ?? Date.now()).getTime()
      // Each arm counts only requests served by the version it stands for: the canary label serves
      // the candidate (the previous version during the bake), production the baseline (the
      // candidate during the bake). Anything else (production moved by hand) is not evidence.
      const labelVersion = bake ? canary.baselineVersionId : canary.candidateVersionId
      const productionVersion = bake ? canary.candidateVersionId : canary.baselineVersionId
      const rows = (
        await db
          .select({ t: traffic, s: scores })
          .from(traffic)
          .leftJoin(
            scores,
            and(
              eq(scores.subjectType, 'traffic'),
              eq(scores.subjectId, traffic.id),
              eq(scores.graderVersionId, canary.graderVersionId),
            ),
          )
          .where(and(eq(traffic.canaryId, input.canaryId), gte(traffic.createdAt, since)))
          .orderBy(asc(traffic.createdAt), asc(traffic.id))
      ).filter(({ t }) =>
        t.arm === 'canary'
          ? t.promptVersionId === labelVersion
          : t.arm === 'baseline' && t.promptVersionId === productionVersion,
      )
      const ungraded = rows.filter((r) => r.s === null && r.t.error === null && r.t.output !== null)
      await gradeTraffic(
        deps,
        ungraded.map(({ t }) => t),
        spec,
        canary.graderVersionId,
        { onProgress: (done) => heartbeat({ graded: done }) },
      )
      const graded = new Map<string, number | null>()
      if (ungraded.length > 0) {
        const ids = ungraded.map((r) => r.t.id)
        for (let i = 0; i < ids.length; i += 1000) {
          const got = await db
            .select({ id: scores.subjectId, score: scores.score })
            .from(scores)
            .where(
              and(
                eq(scores.subjectType, 'traffic'),
                eq(scores.graderVersionId, canary.graderVersionId),
                inArray(scores.subjectId, ids.slice(i, i + 1000)),
              ),
            )
          for (const g of got) graded.set(g.id, g.score)
        }
      }
      const observations = rows.map(({ t, s }) => ({
        arm: t.arm as 'baseline' | 'canary',
        at: t.createdAt.getTime(),
        unit: t.routingKey,
        score: s ? s.score : (graded.get(t.id) ?? null),
        error: t.error !== null,
        latencyMs: t.latencyMs,
        costUsd: t.costUsd,
        routedWeight: t.routingWeight,
      }))
      // The label arm's share over time (start, ramp steps, bake holdback), for the sample-ratio
      // check of requests that did not record the weight they were routed with.
      const moves = await db
        .select({ at: labelHistory.at, weight: labelHistory.weight, to: labelHistory.toVersionId })
        .from(labelHistory)
        .where(and(eq(labelHistory.canaryId, input.canaryId), eq(labelHistory.label, 'canary')))
        .orderBy(asc(labelHistory.at))
      const weights = moves
        .filter((m) => m.to !== null && m.weight !== null && m.at >= since)
        .map((m) => ({ from: m.at.getTime(), weight: m.weight as number }))
      const labelHeld = (await getLabels(db, canary.taskId)).canary?.canaryId === input.canaryId
      const analysis = analyzeCanary(observations, config.analysis, {
        now: dbNow,
        treatment: bake ? 'baseline' : 'canary',
        weights,
      })
      return { at: new Date(dbNow).toISOString(), analysis, labelHeld }
    },

    /** Next ramp step: route `weight` of traffic to the candidate (only while the label is ours). */
    async setCanaryWeight(input: {
      canaryId: string
      weight: number
      step: number
    }): Promise<{ conflict: string | null }> {
      const canary = await canaryRow(input.canaryId)
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
    },

    /** Bake window: route a holdback slice to the previous production version. */
    async startBake(input: {
      canaryId: string
      previousVersionId: string
      holdbackWeight: number
    }): Promise<{ startedAt: string; conflict: string | null }> {
      const canary = await canaryRow(input.canaryId)
      const move = await moveLabel(db, {
        moveKey: `canary:${input.canaryId}:bake-start`,
        taskId: canary.taskId,
        label: 'canary',
        toVersionId: input.previousVersionId,
        weight: input.holdbackWeight,
        canaryId: input.canaryId,
        reason: `bake window: ${Math.round(input.holdbackWeight * 100)}% of traffic stays on the previous version ${input.previousVersionId} for comparison`,
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
        await setState(input.canaryId, 'baking', 'promoted; comparing with the previous version during the bake window')
      const history = await db.query.labelHistory.findFirst({
        where: eq(labelHistory.moveKey, `canary:${input.canaryId}:bake-start`),
      })
      return { startedAt: (history?.at ?? new Date()).toISOString(), conflict: move.conflict }
    },

    /** The bake window is over (passed, or cut short): remove the holdback; production stays. */
    async endBake(input: { canaryId: string; reason?: string }): Promise<void> {
      const canary = await canaryRow(input.canaryId)
      const reason = input.reason ?? `bake window of canary ${input.canaryId} passed without regression`
      await releaseLabel(canary, 'bake-end', reason, 'kaizen', {
        action: 'canary.baked',
        subjectType: 'canary',
        subjectId: input.canaryId,
        details: { reason },
      })
      await setState(input.canaryId, 'promoted', reason, true)
    },

    /** A regression during the bake window: production goes back to the previous version. */
    async bakeRollback(input: {
      canaryId: string
      previousVersionId: string
      reason: string
      evidence: Record<string, unknown> | null
    }): Promise<{ conflict: string | null }> {
      const canary = await canaryRow(input.canaryId)
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
      await releaseLabel(canary, 'bake-rollback-clear', input.reason, 'kaizen')
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
      await setState(
        input.canaryId,
        'rolled_back',
        back.conflict ? `${input.reason} (production was not restored: ${back.conflict})` : input.reason,
        true,
      )
      return { conflict: back.conflict }
    },

    /** Take the candidate off live traffic at once. */
    async rollbackCanary(input: {
      canaryId: string
      reason: string
      actor: string
      evidence: Record<string, unknown> | null
    }): Promise<void> {
      const canary = await canaryRow(input.canaryId)
      await releaseLabel(canary, 'rollback', input.reason, input.actor, {
        action: 'label.canary.removed',
        subjectType: 'canary',
        subjectId: input.canaryId,
      })
      // Written even when the label had already moved away (e.g. a superseding canary took it).
      await appendAudit(db, {
        eventKey: `canary:${input.canaryId}:rolled-back`,
        actor: input.actor,
        action: 'canary.rolled_back',
        taskId: canary.taskId,
        subjectType: 'canary',
        subjectId: input.canaryId,
        details: { reason: input.reason, candidateVersionId: canary.candidateVersionId, evidence: input.evidence },
      })
      await setState(input.canaryId, 'rolled_back', input.reason, true)
    },

    /** A human's decision, with the evidence they saw. Append-only. */
    async recordApproval(input: ApprovalRecord): Promise<{ approvalId: string }> {
      const canary = await canaryRow(input.canaryId)
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
        },
      })
      return { approvalId }
    },

    /**
     * Move production to the candidate — only after a recorded human approval, only while this
     * canary still holds its label, and only if production is still the baseline it was compared
     * with. Otherwise nothing moves and the conflict is returned.
     */
    async promoteCanary(input: {
      canaryId: string
      approver: string
      approvalId: string
    }): Promise<{ promoted: boolean; conflict: string | null; previousVersionId: string | null }> {
      const canary = await canaryRow(input.canaryId)
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
      await releaseLabel(canary, 'promote-clear', `canary ${input.canaryId} promoted to production`, input.approver)
      await setState(input.canaryId, 'promoted', `approved by ${input.approver}`, true)
      return { promoted: true, conflict: null, previousVersionId: move.fromVersionId }
    },

    async setCanaryState(input: {
      canaryId: string
      state: string
      reason: string | null
      ended?: boolean
    }): Promise<void> {
      await setState(input.canaryId, input.state, input.reason, input.ended ?? false)
    },
  }
}

export type CanaryActivities = ReturnType<typeof createCanaryActivities>
