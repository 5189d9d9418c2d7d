/**
 * @module db/queries/console
 * What the operator console reads that no other reader needs: the task overview (production
 * version, live canary, last campaign, DQ and cost of recent traffic) and a canary's quality per
 * arm over time (the graded requests of each arm, in time buckets).
 */
import { and, desc, eq, inArray, sql } from 'drizzle-orm'
import type { Db } from '../client.js'
import type { Observation } from '../../core/canary/pairing.js'
import { approxTokens } from '../../core/prompt.js'
import {
  campaigns,
  candidates,
  canaries,
  evaluations,
  labels,
  promptVersions,
  scores,
  tasks,
  traffic,
} from '../schema.js'

export interface TaskOverview {
  id: string
  title: string
  productionVersion: number | null
  productionModel: string | null
  canary: { id: string; state: string; weight: number } | null
  lastCampaign: { id: string; status: string; decision: string | null; createdAt: Date } | null
  /** Daily mean DQ and mean cost of graded traffic over the last 14 days, oldest first. */
  trend: Array<{ day: string; dq: number | null; costUsd: number | null; requests: number }>
}

export async function tasksOverview(db: Db, only?: (taskId: string) => boolean): Promise<TaskOverview[]> {
  const rows = (await db.select().from(tasks).orderBy(tasks.id)).filter((t) => !only || only(t.id))
  if (rows.length === 0) return []
  const ids = rows.map((t) => t.id)
  const prod = await db
    .select({ taskId: labels.taskId, version: promptVersions.version, model: promptVersions.model })
    .from(labels)
    .innerJoin(promptVersions, eq(promptVersions.id, labels.promptVersionId))
    .where(and(eq(labels.label, 'production'), inArray(labels.taskId, ids)))
  const live = await db
    .select()
    .from(canaries)
    .where(and(inArray(canaries.taskId, ids), sql`${canaries.endedAt} is null`))
    .orderBy(desc(canaries.startedAt))
  const recent = await db
    .select()
    .from(campaigns)
    .where(inArray(campaigns.taskId, ids))
    .orderBy(desc(campaigns.createdAt))
    .limit(500)
  const day = sql<string>`to_char(date_trunc('day', ${traffic.createdAt}), 'YYYY-MM-DD')`
  const trend = await db
    .select({
      taskId: traffic.taskId,
      day,
      dq: sql<number | null>`avg(${scores.score})`,
      costUsd: sql<number | null>`avg(${traffic.costUsd})`,
      requests: sql<number>`count(*)::int`,
    })
    .from(traffic)
    .leftJoin(scores, and(eq(scores.subjectType, 'traffic'), eq(scores.subjectId, traffic.id)))
    .where(and(inArray(traffic.taskId, ids), sql`${traffic.createdAt} > now() - interval '14 days'`))
    .groupBy(traffic.taskId, day)
    .orderBy(day)
  return rows.map((t) => {
    const p = prod.find((r) => r.taskId === t.id)
    const c = live.find((r) => r.taskId === t.id)
    const last = recent.find((r) => r.taskId === t.id)
    return {
      id: t.id,
      title: t.title,
      productionVersion: p?.version ?? null,
      productionModel: p?.model ?? null,
      canary: c ? { id: c.id, state: c.state, weight: c.weight } : null,
      lastCampaign: last
        ? { id: last.id, status: last.status, decision: last.decision, createdAt: last.createdAt }
        : null,
      trend: trend
        .filter((r) => r.taskId === t.id)
        .map((r) => ({
          day: r.day,
          dq: r.dq === null ? null : Number(r.dq),
          costUsd: r.costUsd === null ? null : Number(r.costUsd),
          requests: r.requests,
        })),
    }
  })
}

/** Join condition: a traffic record's score by this grader version. */
const scoredBy = (graderVersionId: string) =>
  and(eq(scores.subjectType, 'traffic'), eq(scores.subjectId, traffic.id), eq(scores.graderVersionId, graderVersionId))

export interface ArmPoint {
  /** Start of the bucket, ms since the epoch. */
  at: number
  dq: number
  n: number
}

/** Mean DQ of each arm's graded requests of a canary, in up to `buckets` equal time buckets. */
export async function canaryQualitySeries(
  db: Db,
  canaryId: string,
  graderVersionId: string,
  buckets = 24,
): Promise<{ canary: ArmPoint[]; baseline: ArmPoint[] }> {
  const rows = await db
    .select({ arm: traffic.arm, at: traffic.createdAt, score: scores.score })
    .from(traffic)
    .innerJoin(scores, scoredBy(graderVersionId))
    .where(and(eq(traffic.canaryId, canaryId), sql`${scores.score} is not null`))
  const out = { canary: [] as ArmPoint[], baseline: [] as ArmPoint[] }
  if (rows.length === 0) return out
  const times = rows.map((r) => r.at.getTime())
  const [start, end] = [Math.min(...times), Math.max(...times)]
  const width = Math.max(1, Math.ceil((end - start + 1) / buckets))
  for (const arm of ['canary', 'baseline'] as const) {
    const sums = new Map<number, { sum: number; n: number }>()
    for (const r of rows) {
      if (r.arm !== arm) continue
      const b = Math.floor((r.at.getTime() - start) / width)
      const s = sums.get(b) ?? { sum: 0, n: 0 }
      s.sum += r.score as number
      s.n++
      sums.set(b, s)
    }
    out[arm] = [...sums.entries()]
      .sort(([a], [b]) => a - b)
      .map(([b, s]) => ({ at: start + b * width, dq: s.sum / s.n, n: s.n }))
  }
  return out
}

export interface CandidatePoint {
  version: number
  promptVersionId: string
  round: number
  status: 'seed' | 'accepted' | 'rejected'
  operator: string
  validationMean: number | null
  /** Approximate prompt size in tokens (instructions, template, demonstrations): the input each request pays for. */
  promptTokens: number
}

/** A campaign's candidates with their validation score and prompt size, and what it has spent. */
export async function campaignEvidence(
  db: Db,
  campaignId: string,
): Promise<{ candidates: CandidatePoint[]; spentUsd: number; calls: number }> {
  const rows = await db
    .select({
      version: promptVersions.version,
      promptVersionId: candidates.promptVersionId,
      round: candidates.round,
      status: candidates.status,
      operator: candidates.operator,
      validationMean: candidates.validationMean,
      system: promptVersions.system,
      template: promptVersions.userTemplate,
      examples: promptVersions.examples,
    })
    .from(candidates)
    .innerJoin(promptVersions, eq(promptVersions.id, candidates.promptVersionId))
    .where(eq(candidates.campaignId, campaignId))
    .orderBy(candidates.round, promptVersions.version)
  const [spend] = await db
    .select({ usd: sql<number>`coalesce(sum(${evaluations.costUsd}), 0)`, calls: sql<number>`count(*)::int` })
    .from(evaluations)
    .where(eq(evaluations.campaignId, campaignId))
  return {
    candidates: rows.map((r) => ({
      version: r.version,
      promptVersionId: r.promptVersionId,
      round: r.round,
      status: r.status,
      operator: r.operator,
      validationMean: r.validationMean,
      promptTokens: approxTokens(`${r.system}\n${r.template}\n${JSON.stringify(r.examples ?? [])}`),
    })),
    spentUsd: Number(spend?.usd ?? 0),
    calls: spend?.calls ?? 0,
  }
}

/** A canary's requests of both arms as the analysis sees them (score by the canary's grader, or null). */
export async function canaryObservations(db: Db, canaryId: string, graderVersionId: string): Promise<Observation[]> {
  const rows = await db
    .select({
      arm: traffic.arm,
      at: traffic.createdAt,
      unit: traffic.routingKey,
      error: traffic.error,
      latencyMs: traffic.latencyMs,
      costUsd: traffic.costUsd,
      routedWeight: traffic.routingWeight,
      score: scores.score,
    })
    .from(traffic)
    .leftJoin(scores, scoredBy(graderVersionId))
    .where(and(eq(traffic.canaryId, canaryId), inArray(traffic.arm, ['canary', 'baseline'])))
  return rows.map((r) => ({
    arm: r.arm as 'canary' | 'baseline',
    at: r.at.getTime(),
    unit: r.unit,
    score: r.score,
    error: r.error !== null,
    latencyMs: r.latencyMs,
    costUsd: r.costUsd,
    routedWeight: r.routedWeight,
  }))
}
