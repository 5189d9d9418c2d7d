/**
 * @module activities/monitor
 * The quality monitor's I/O for one check (core/monitor/check.ts decides): the sampled share of
 * the production version's traffic in the interval, graded within the day's judge budget; the
 * floors' window over all of that version's traffic. Idempotent: scores are keyed by (request,
 * grader version), the judge's spend by the check id, the sample by each request's hash.
 */
import { heartbeat } from '@temporalio/activity'
import { and, asc, eq, gt, isNotNull, isNull, lte, lt, or, sql } from 'drizzle-orm'
import type { GradedRequest } from '../core/monitor/check.js'
import { gradingAllowance, utcDay, type WindowStats } from '../core/monitor/policy.js'
import { currentGraderVersionId, getGraderSpec } from '../db/queries/graders.js'
import { getLabels } from '../db/queries/labels.js'
import { chargeJudge, judgeSpend } from '../db/queries/monitor.js'
import { trafficScores } from '../db/queries/scores.js'
import { evaluations, scores, traffic } from '../db/schema.js'
import { gradeTraffic } from '../evaluation/grade-traffic.js'
import type { ActivityDeps } from './deps.js'

export interface MonitorCheckInput {
  taskId: string
  /** Stable across retries: the monitor's workflow id and the check's number. */
  checkId: string
  /** The interval (ISO times): requests created after `from`, up to and including `to`. */
  from: string
  to: string
  sampleRate: number
  dailyJudgeBudgetUsd: number
  floorsWindowMs: number
}

export interface MonitorCheckResult {
  /** null: the task has no production version (nothing to watch). */
  productionVersionId: string | null
  graderVersionId: string | null
  /** The sample, in time order (`at` in epoch ms); a request the budget left ungraded has dq null. */
  requests: GradedRequest[]
  sampled: number
  graded: number
  window: WindowStats
  judge: { spentTodayUsd: number; budgetUsd: number; exhausted: boolean; chargedUsd: number }
}

const EMPTY_WINDOW: WindowStats = { graded: 0, dqMean: null, requests: 0, errors: 0, p95LatencyMs: null }

/** Production traffic of the version: outside canaries, or in a canary's baseline arm. */
const productionOf = (taskId: string, versionId: string) =>
  and(
    eq(traffic.taskId, taskId),
    eq(traffic.promptVersionId, versionId),
    or(isNull(traffic.arm), eq(traffic.arm, 'baseline')),
  )

async function windowStats(
  deps: ActivityDeps,
  taskId: string,
  versionId: string,
  graderVersionId: string,
  from: Date,
  to: Date,
): Promise<WindowStats> {
  const inWindow = and(productionOf(taskId, versionId), gt(traffic.createdAt, from), lte(traffic.createdAt, to))
  const [all] = await deps.db
    .select({
      requests: sql<number>`count(*)::int`,
      errors: sql<number>`count(*) filter (where ${traffic.error} is not null)::int`,
      p95: sql<number | null>`percentile_disc(0.95) within group (order by ${traffic.latencyMs})`,
    })
    .from(traffic)
    .where(inWindow)
  const [dq] = await deps.db
    .select({ graded: sql<number>`count(${scores.score})::int`, mean: sql<number | null>`avg(${scores.score})` })
    .from(traffic)
    .innerJoin(
      scores,
      and(
        eq(scores.subjectType, 'traffic'),
        eq(scores.subjectId, traffic.id),
        eq(scores.graderVersionId, graderVersionId),
      ),
    )
    .where(inWindow)
  return {
    graded: dq?.graded ?? 0,
    dqMean: dq?.mean === null || dq?.mean === undefined ? null : Number(dq.mean),
    requests: all?.requests ?? 0,
    errors: all?.errors ?? 0,
    p95LatencyMs: all?.p95 === null || all?.p95 === undefined ? null : Number(all.p95),
  }
}

async function monitorCheck(deps: ActivityDeps, input: MonitorCheckInput): Promise<MonitorCheckResult> {
  const { db } = deps
  const from = new Date(input.from)
  const to = new Date(input.to)
  const day = utcDay(to.getTime())
  const budget = { spentTodayUsd: 0, budgetUsd: input.dailyJudgeBudgetUsd, exhausted: false, chargedUsd: 0 }
  const production = (await getLabels(db, input.taskId)).production
  if (!production)
    return {
      productionVersionId: null,
      graderVersionId: null,
      requests: [],
      sampled: 0,
      graded: 0,
      window: EMPTY_WINDOW,
      judge: budget,
    }
  const versionId = production.promptVersionId
  const graderVersionId = await currentGraderVersionId(db, { id: input.taskId })
  const spec = await getGraderSpec(db, graderVersionId)
  // The sample: a request is in it when the hash of its id falls below the rate (stable on retry).
  const rows = await db
    .select({
      id: traffic.id,
      input: traffic.input,
      output: traffic.output,
      reference: traffic.reference,
      latencyMs: traffic.latencyMs,
      costUsd: traffic.costUsd,
      model: traffic.model,
      error: traffic.error,
      createdAt: traffic.createdAt,
    })
    .from(traffic)
    .where(
      and(
        productionOf(input.taskId, versionId),
        gt(traffic.createdAt, from),
        lte(traffic.createdAt, to),
        lt(traffic.sampleKey, input.sampleRate),
      ),
    )
    .orderBy(asc(traffic.createdAt), asc(traffic.id))
  const answered = rows.filter((r) => r.error === null && r.output !== null)
  const stored = new Map(
    (
      await trafficScores(
        db,
        graderVersionId,
        answered.map((r) => r.id),
      )
    ).map((s) => [s.id, s]),
  )
  const todo = answered.filter((r) => !stored.has(r.id))
  // The budget: the day's spend so far, at the cost per grade seen today (nothing seen: try all).
  const spent = await judgeSpend(db, input.taskId, day)
  const perGrade = spent.graded > 0 ? spent.usd / spent.graded : 0
  const allowance = gradingAllowance({
    sampled: todo.length,
    costPerGradeUsd: perGrade,
    spentTodayUsd: spent.usd,
    budgetUsd: input.dailyJudgeBudgetUsd,
  })
  // A day whose budget is spent grades nothing more (and says so every check until midnight UTC).
  const spentOut = spent.usd > 0 && spent.usd >= input.dailyJudgeBudgetUsd
  const grading = spentOut ? [] : todo.slice(0, allowance.grade)
  const payer = `monitor:${input.checkId}`
  if (grading.length > 0) {
    heartbeat({ grading: grading.length })
    await gradeTraffic(deps, grading, spec, graderVersionId, { payer, onProgress: () => heartbeat() })
  }
  // What this check's judge calls cost (answers already cached cost nothing), charged once.
  const [paid] = await db
    .select({ usd: sql<number>`coalesce(sum(${evaluations.costUsd}), 0)::float8` })
    .from(evaluations)
    .where(and(eq(evaluations.campaignId, payer), isNotNull(evaluations.costUsd)))
  const chargedUsd = Number(paid?.usd ?? 0)
  await chargeJudge(db, { taskId: input.taskId, checkId: input.checkId, day, usd: chargedUsd, graded: grading.length })
  const after = new Map(
    (
      await trafficScores(
        db,
        graderVersionId,
        answered.map((r) => r.id),
      )
    ).map((s) => [s.id, s.score]),
  )
  const requests: GradedRequest[] = rows.map((r) => ({
    at: r.createdAt.getTime(),
    error: r.error !== null,
    dq: r.error === null ? (after.get(r.id) ?? null) : null,
  }))
  const windowFrom = new Date(to.getTime() - input.floorsWindowMs)
  return {
    productionVersionId: versionId,
    graderVersionId,
    requests,
    sampled: rows.length,
    graded: grading.length,
    window: await windowStats(deps, input.taskId, versionId, graderVersionId, windowFrom, to),
    judge: {
      spentTodayUsd: spent.usd + chargedUsd,
      budgetUsd: input.dailyJudgeBudgetUsd,
      exhausted:
        spentOut ||
        grading.length < todo.length ||
        (spent.usd + chargedUsd > 0 && spent.usd + chargedUsd >= input.dailyJudgeBudgetUsd),
      chargedUsd,
    },
  }
}

export function createMonitorActivities(deps: ActivityDeps) {
  return {
    monitorCheck: (input: MonitorCheckInput) => monitorCheck(deps, input),
  }
}
