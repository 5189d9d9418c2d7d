/**
 * @module activities/canary/analysis
 * `analyzeCanary`: grade the live traffic of both arms, then run the sequential analysis.
 */
import { heartbeat } from '@temporalio/activity'
import { and, asc, eq, gte, sql } from 'drizzle-orm'
import { analyzeCanary as analyze } from '../../core/canary/analyze.js'
import { parseCanaryConfig } from '../../core/config.js'
import { getGraderSpec } from '../../db/queries/graders.js'
import { getLabels } from '../../db/queries/labels.js'
import { trafficScoreOn, trafficScores } from '../../db/queries/scores.js'
import { labelHistory, scores, traffic } from '../../db/schema.js'
import { gradeTraffic } from '../../evaluation/grade-traffic.js'
import type { CanaryContext } from './context.js'
import type { CanaryEvidence, CanaryPhase } from './types.js'

type CanaryRow = Awaited<ReturnType<CanaryContext['canaryRow']>>

/**
 * The canary's traffic since `since`, each with its score by the canary's grader if it has one.
 * Each arm counts only requests served by the version it stands for: the canary label serves the
 * candidate (the previous version during the bake), production the baseline (the candidate during
 * the bake). Anything else (production moved by hand) is not evidence.
 */
async function armTraffic({ db }: CanaryContext, canary: CanaryRow, since: Date, bake: boolean) {
  const labelVersion = bake ? canary.baselineVersionId : canary.candidateVersionId
  const productionVersion = bake ? canary.candidateVersionId : canary.baselineVersionId
  return (
    await db
      .select({ t: traffic, s: scores })
      .from(traffic)
      .leftJoin(scores, trafficScoreOn(canary.graderVersionId))
      .where(and(eq(traffic.canaryId, canary.id), gte(traffic.createdAt, since)))
      .orderBy(asc(traffic.createdAt), asc(traffic.id))
  ).filter(({ t }) =>
    t.arm === 'canary'
      ? t.promptVersionId === labelVersion
      : t.arm === 'baseline' && t.promptVersionId === productionVersion,
  )
}

/** The scores just written for `ids` by the grader, read back in chunks (no query for none). */
async function scoresOf({ db }: CanaryContext, graderVersionId: string, ids: string[]) {
  return new Map((await trafficScores(db, graderVersionId, ids)).map((g) => [g.id, g.score]))
}

/**
 * The label arm's share over time (start, ramp steps, bake holdback), for the sample-ratio check
 * of requests that did not record the weight they were routed with.
 */
async function labelWeights({ db }: CanaryContext, canaryId: string, since: Date) {
  const moves = await db
    .select({ at: labelHistory.at, weight: labelHistory.weight, to: labelHistory.toVersionId })
    .from(labelHistory)
    .where(and(eq(labelHistory.canaryId, canaryId), eq(labelHistory.label, 'canary')))
    .orderBy(asc(labelHistory.at))
  return moves
    .filter((m) => m.to !== null && m.weight !== null && m.at >= since)
    .map((m) => ({ from: m.at.getTime(), weight: m.weight as number }))
}

/**
 * Grade ungraded live requests of both arms, then run the sequential analysis. In the bake
 * phase the arm under test is production (the promoted candidate) and the reference is the
 * holdback on the previous version, counted from the bake's start.
 */
export async function analyzeCanary(
  ctx: CanaryContext,
  input: { canaryId: string; phase?: CanaryPhase; since?: string | null },
): Promise<CanaryEvidence> {
  const { db } = ctx
  const canary = await ctx.canaryRow(input.canaryId)
  // Stored configs may predate settings added since: parsing fills their defaults.
  const config = parseCanaryConfig(canary.config, `stored config of canary ${canary.id}`)
  const spec = await getGraderSpec(db, canary.graderVersionId)
  const since = input.since ? new Date(input.since) : canary.startedAt
  const bake = input.phase === 'bake'
  // Read the clock first: every row read below was written before it, so no block that closes
  // by this clock can still gain rows (blocks close by the clock that stamps traffic).
  const now = (await db.execute(sql`SELECT now() AS now`)) as unknown as { rows: Array<{ now: Date | string }> }
  const dbNow = new Date(now.rows[0]?.now ?? Date.now()).getTime()
  const rows = await armTraffic(ctx, canary, since, bake)
  const ungraded = rows.filter((r) => r.s === null && r.t.error === null && r.t.output !== null)
  await gradeTraffic(
    ctx.deps,
    ungraded.map(({ t }) => t),
    spec,
    canary.graderVersionId,
    { onProgress: (done) => heartbeat({ graded: done }) },
  )
  const graded = await scoresOf(
    ctx,
    canary.graderVersionId,
    ungraded.map((r) => r.t.id),
  )
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
  const weights = await labelWeights(ctx, input.canaryId, since)
  const labelHeld = (await getLabels(db, canary.taskId)).canary?.canaryId === input.canaryId
  const analysis = analyze(observations, config.analysis, {
    now: dbNow,
    treatment: bake ? 'baseline' : 'canary',
    weights,
  })
  return { at: new Date(dbNow).toISOString(), analysis, labelHeld }
}
