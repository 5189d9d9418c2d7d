/**
 * @module activities/monitor
 * The quality monitor's I/O for one check (core/monitor/check.ts decides): the sampled share of
 * the production version's traffic in the interval, graded within the day's judge budget; the
 * floors' window over all of that version's traffic. Idempotent: scores are keyed by (request,
 * grader version), the judge's spend by the check id, the sample by each request's hash.
 */
import { Context, cancellationSignal, heartbeat } from '@temporalio/activity'
import { and, asc, desc, eq, gt, isNull, lte, lt, or, sql } from 'drizzle-orm'
import { KaizenError } from '../core/errors.js'
import type { Finding, GradedRequest } from '../core/monitor/check.js'
import { inputDrift, type InputDrift } from '../core/monitor/input-drift.js'
import { gradingAllowance, utcDay, type WindowStats } from '../core/monitor/policy.js'
import { currentGraderVersionId, getGraderSpec } from '../db/queries/graders.js'
import { getLabels } from '../db/queries/labels.js'
import { appendAudit } from '../db/queries/audit.js'
import { acknowledgeAlert, chargeJudge, judgeSpend, linkAlertCampaign, raiseAlert } from '../db/queries/monitor.js'
import { trafficScores } from '../db/queries/scores.js'
import { campaigns, evaluations, scores, traffic } from '../db/schema.js'
import { deliver } from '../lib/webhooks.js'
import { GRADABLE_COLUMNS, gradeTraffic } from '../evaluation/grade-traffic.js'
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
  /**
   * The reference window (ISO start, length) once the monitor watches: the interval's inputs are
   * compared with a sample of its inputs (input drift). Absent while learning.
   */
  reference?: { from: string; ms: number } | null
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
  /** The interval's inputs against the reference window's (null: no reference yet, or too few inputs). */
  inputDrift: InputDrift | null
}

/** Inputs compared for input drift, at most, on each side. */
const DRIFT_SAMPLE = 200
/** Fewer reference inputs than this: no drift measure. */
const DRIFT_MIN_REFERENCE = 20
const textOf = (input: Record<string, string>) => Object.values(input).join('\n')

const EMPTY_WINDOW: WindowStats = {
  graded: 0,
  dqMean: null,
  requests: 0,
  errors: 0,
  p95LatencyMs: null,
  meanCostUsd: null,
}

/**
 * Production traffic of the version created after `from`, up to and including `to`: outside
 * canaries, or in a canary's baseline arm.
 */
const productionBetween = (taskId: string, versionId: string, from: Date, to: Date) =>
  and(
    eq(traffic.taskId, taskId),
    eq(traffic.promptVersionId, versionId),
    or(isNull(traffic.arm), eq(traffic.arm, 'baseline')),
    gt(traffic.createdAt, from),
    lte(traffic.createdAt, to),
  )

async function windowStats(
  deps: ActivityDeps,
  taskId: string,
  versionId: string,
  graderVersionId: string,
  from: Date,
  to: Date,
): Promise<WindowStats> {
  const inWindow = productionBetween(taskId, versionId, from, to)
  const [all] = await deps.db
    .select({
      requests: sql<number>`count(*)::int`,
      errors: sql<number>`count(*) filter (where ${traffic.error} is not null)::int`,
      p95: sql<number | null>`percentile_disc(0.95) within group (order by ${traffic.latencyMs})`,
      cost: sql<number | null>`avg(${traffic.costUsd}) filter (where ${traffic.error} is null)`,
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
    meanCostUsd: all?.cost === null || all?.cost === undefined ? null : Number(all.cost),
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
      inputDrift: null,
    }
  const versionId = production.promptVersionId
  const graderVersionId = await currentGraderVersionId(db, { id: input.taskId })
  const spec = await getGraderSpec(db, graderVersionId)
  // The sample: a request is in it when the hash of its id falls below the rate (stable on retry).
  const rows = await db
    .select({ ...GRADABLE_COLUMNS, error: traffic.error, createdAt: traffic.createdAt })
    .from(traffic)
    .where(and(productionBetween(input.taskId, versionId, from, to), lt(traffic.sampleKey, input.sampleRate)))
    .orderBy(asc(traffic.createdAt), asc(traffic.id))
  const answered = rows.filter((r) => r.error === null && r.output !== null)
  const scoreOf = new Map<string, number | null>(
    (
      await trafficScores(
        db,
        graderVersionId,
        answered.map((r) => r.id),
      )
    ).map((s) => [s.id, s.score]),
  )
  const todo = answered.filter((r) => !scoreOf.has(r.id))
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
    .where(eq(evaluations.campaignId, payer))
  const chargedUsd = Number(paid?.usd ?? 0)
  const spentToday = spent.usd + chargedUsd
  await chargeJudge(db, { taskId: input.taskId, checkId: input.checkId, day, usd: chargedUsd, graded: grading.length })
  // Only what this check graded is new.
  for (const g of await trafficScores(
    db,
    graderVersionId,
    grading.map((r) => r.id),
  ))
    scoreOf.set(g.id, g.score)
  const requests: GradedRequest[] = rows.map((r) => ({
    at: r.createdAt.getTime(),
    error: r.error !== null,
    dq: r.error === null ? (scoreOf.get(r.id) ?? null) : null,
    latencyMs: r.error === null ? r.latencyMs : null,
    costUsd: r.error === null ? r.costUsd : null,
  }))
  const windowFrom = new Date(to.getTime() - input.floorsWindowMs)
  let drift: InputDrift | null = null
  if (input.reference && rows.length > 0) {
    const refFrom = new Date(input.reference.from)
    const refTo = new Date(refFrom.getTime() + input.reference.ms)
    // A hash-ordered sample of the reference window's inputs (the same on every check).
    const reference = await db
      .select({ input: traffic.input })
      .from(traffic)
      .where(productionBetween(input.taskId, versionId, refFrom, refTo))
      .orderBy(asc(traffic.sampleKey))
      .limit(DRIFT_SAMPLE)
    if (reference.length >= DRIFT_MIN_REFERENCE)
      drift = inputDrift(
        reference.map((r) => textOf(r.input)),
        rows.slice(0, DRIFT_SAMPLE).map((r) => textOf(r.input)),
      )
  }
  return {
    productionVersionId: versionId,
    graderVersionId,
    requests,
    sampled: rows.length,
    graded: grading.length,
    window: await windowStats(deps, input.taskId, versionId, graderVersionId, windowFrom, to),
    judge: {
      spentTodayUsd: spentToday,
      budgetUsd: input.dailyJudgeBudgetUsd,
      // Some of the sample left ungraded, or the day's budget reached.
      exhausted: grading.length < todo.length || (spentToday > 0 && spentToday >= input.dailyJudgeBudgetUsd),
      chargedUsd,
    },
    inputDrift: drift,
  }
}

export interface RaiseMonitorAlertInput {
  taskId: string
  checkId: string
  finding: Finding
  /** When the check ran (ISO). */
  at: string
  cooldownMs: number
}

export interface RaiseMonitorAlertResult {
  alertId: string
  /** False: held back as a duplicate of an open alert or within the cooldown. */
  raised: boolean
  reason: 'duplicate' | 'cooldown' | null
  delivered: string[]
}

/**
 * Raise a finding as an alert (once per key while open, not within the cooldown) and deliver it
 * to the worker's webhook and Slack targets. A retry finds the alert by id and delivers again:
 * receivers deduplicate on the event id.
 */
async function raiseMonitorAlert(deps: ActivityDeps, input: RaiseMonitorAlertInput): Promise<RaiseMonitorAlertResult> {
  const { finding } = input
  const id = `${input.checkId}:${finding.kind}:${finding.metric}`
  const r = await raiseAlert(
    deps.db,
    {
      id,
      taskId: input.taskId,
      kind: finding.kind,
      metric: finding.metric,
      summary: finding.summary,
      evidence: finding.evidence,
      at: new Date(input.at),
    },
    input.cooldownMs,
  )
  if (!r.raised) return { alertId: r.existing.id, raised: false, reason: r.reason, delivered: [] }
  const targets = deps.webhooks ?? {}
  const report = await deliver(
    targets,
    {
      id: `monitor-alert:${id}`,
      event: 'monitor.alert',
      at: input.at,
      taskId: input.taskId,
      state: finding.kind,
      summary: `${input.taskId}: ${finding.summary}`,
      details: { alertId: id, kind: finding.kind, metric: finding.metric, evidence: finding.evidence },
      actions: {
        status: `kaizen monitor status --task ${input.taskId}`,
        acknowledge: `kaizen monitor ack ${id} --by <you>`,
      },
    },
    { signal: cancellationSignal() },
  )
  const retry = report.failed.filter((f) => f.retryable)
  if (retry.length > 0)
    throw new KaizenError(
      'PROVIDER_UNAVAILABLE',
      `monitor alert ${id} not delivered to ${retry.map((f) => `${f.target} (${f.message})`).join(', ')}`,
    )
  return { alertId: id, raised: true, reason: null, delivered: report.delivered.map((d) => d.target) }
}

/** What decides whether the monitor may start a campaign now: what runs, and what it started before. */
async function monitorCampaignContext(
  deps: ActivityDeps,
  input: { taskId: string },
): Promise<{ busy: string | null; startedAt: number[] }> {
  const running = await deps.db.query.campaigns.findFirst({
    where: and(eq(campaigns.taskId, input.taskId), eq(campaigns.status, 'running')),
    orderBy: desc(campaigns.createdAt),
  })
  const canary = (await getLabels(deps.db, input.taskId)).canary
  const started = await deps.db
    .select({ at: campaigns.createdAt })
    .from(campaigns)
    .where(and(eq(campaigns.taskId, input.taskId), eq(campaigns.trigger, 'monitor')))
  return {
    busy: running ? `campaign ${running.id}` : canary ? `canary ${canary.canaryId ?? ''}`.trim() : null,
    startedAt: started.map((s) => s.at.getTime()),
  }
}

/** Record that an alert started a campaign (the alert row and the audit log name each other). */
async function recordMonitorCampaign(
  deps: ActivityDeps,
  input: { taskId: string; alertId: string; campaignId: string },
): Promise<void> {
  await linkAlertCampaign(deps.db, input.alertId, input.campaignId)
  await appendAudit(deps.db, {
    eventKey: `monitor-campaign:${input.campaignId}`,
    actor: 'kaizen:monitor',
    action: 'monitor.campaign_started',
    taskId: input.taskId,
    subjectType: 'campaign',
    subjectId: input.campaignId,
    details: { alertId: input.alertId },
  })
}

/** Record a change of a monitor's settings in the audit log (who, and the settings as given). */
async function recordMonitorConfig(
  deps: ActivityDeps,
  input: { taskId: string; workflowId: string; by: string; config: unknown },
): Promise<void> {
  const info = Context.current().info
  await appendAudit(deps.db, {
    // One event per update, however often the activity is retried.
    eventKey: `monitor-config:${info.workflowExecution?.runId ?? input.workflowId}:${info.activityId}`,
    actor: input.by,
    action: 'monitor.configured',
    taskId: input.taskId,
    subjectType: 'monitor',
    subjectId: input.workflowId,
    details: { config: input.config },
  })
}

/** Acknowledge an alert on a person's behalf (idempotent: a retry finds it acknowledged, by them). */
async function acknowledgeMonitorAlert(
  deps: ActivityDeps,
  input: { alertId: string; by: string; comment?: string; at: string },
): Promise<{ alertId: string; already: boolean; acknowledgedBy: string | null; acknowledgedAt: string | null }> {
  const { alert, already } = await acknowledgeAlert(deps.db, {
    alertId: input.alertId,
    by: input.by,
    at: new Date(input.at),
    comment: input.comment ?? null,
  })
  return {
    alertId: alert.id,
    // A retry of this same acknowledgement is not "already" to the person who made it.
    already: already && !(alert.acknowledgedBy === input.by && alert.acknowledgedAt?.toISOString() === input.at),
    acknowledgedBy: alert.acknowledgedBy,
    acknowledgedAt: alert.acknowledgedAt?.toISOString() ?? null,
  }
}

export function createMonitorActivities(deps: ActivityDeps) {
  return {
    monitorCheck: (input: MonitorCheckInput) => monitorCheck(deps, input),
    raiseMonitorAlert: (input: RaiseMonitorAlertInput) => raiseMonitorAlert(deps, input),
    monitorCampaignContext: (input: { taskId: string }) => monitorCampaignContext(deps, input),
    recordMonitorCampaign: (input: { taskId: string; alertId: string; campaignId: string }) =>
      recordMonitorCampaign(deps, input),
    acknowledgeMonitorAlert: (input: { alertId: string; by: string; comment?: string; at: string }) =>
      acknowledgeMonitorAlert(deps, input),
    recordMonitorConfig: (input: { taskId: string; workflowId: string; by: string; config: unknown }) =>
      recordMonitorConfig(deps, input),
  }
}
