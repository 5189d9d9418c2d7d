/**
 * @module db/queries/monitor
 * The quality monitor's records: alerts (raised once per key while open, held back within the
 * cooldown; core/monitor/policy.ts decides) with their acknowledgements, and the judge's spend per
 * UTC day. Every write is keyed, so a retried activity changes nothing the second time.
 */
import { and, desc, eq, isNull, sql } from 'drizzle-orm'
import { KaizenError } from '../../core/errors.js'
import { alertKey, decideAlert, type AlertKind } from '../../core/monitor/policy.js'
import type { Db } from '../client.js'
import { monitorAlerts, monitorJudgeCharges } from '../schema.js'
import { appendAudit } from './audit.js'

export type MonitorAlertRow = typeof monitorAlerts.$inferSelect

export interface AlertInput {
  /** Stable across retries (the check's id and the finding). */
  id: string
  taskId: string
  kind: AlertKind
  metric: string
  summary: string
  evidence: Record<string, unknown>
  at: Date
}

export type RaiseResult =
  | { raised: true; alert: MonitorAlertRow }
  | { raised: false; reason: 'duplicate' | 'cooldown'; existing: MonitorAlertRow }

/**
 * Raise an alert unless the same one (task, metric, kind) is still open — then only its
 * `lastSeenAt` moves — or was raised within `cooldownMs`. Raising is an audit event.
 */
export async function raiseAlert(db: Db, input: AlertInput, cooldownMs: number): Promise<RaiseResult> {
  return db.transaction(async (tx) => {
    const again = await tx.query.monitorAlerts.findFirst({ where: eq(monitorAlerts.id, input.id) })
    if (again) return { raised: true, alert: again }
    const key = alertKey(input.taskId, input.metric, input.kind)
    // One raise per key at a time: concurrent checks of a task queue up here.
    await tx.execute(sql`select pg_advisory_xact_lock(hashtext(${key}))`)
    const previous = await tx.query.monitorAlerts.findFirst({
      where: eq(monitorAlerts.key, key),
      orderBy: desc(monitorAlerts.raisedAt),
    })
    const decision = decideAlert(
      previous
        ? {
            key,
            raisedAt: previous.raisedAt.getTime(),
            acknowledgedAt: previous.acknowledgedAt?.getTime() ?? null,
          }
        : null,
      input.at.getTime(),
      cooldownMs,
    )
    if (!decision.raise) {
      const existing = previous as MonitorAlertRow
      if (decision.reason === 'duplicate' && existing.lastSeenAt < input.at)
        await tx.update(monitorAlerts).set({ lastSeenAt: input.at }).where(eq(monitorAlerts.id, existing.id))
      return { raised: false, reason: decision.reason, existing }
    }
    const [alert] = await tx
      .insert(monitorAlerts)
      .values({
        id: input.id,
        taskId: input.taskId,
        key,
        kind: input.kind,
        metric: input.metric,
        summary: input.summary,
        evidence: input.evidence,
        raisedAt: input.at,
        lastSeenAt: input.at,
      })
      .returning()
    await appendAudit(tx, {
      eventKey: `monitor-alert:${input.id}`,
      actor: 'kaizen:monitor',
      action: 'monitor.alert',
      taskId: input.taskId,
      subjectType: 'monitor_alert',
      subjectId: input.id,
      details: { kind: input.kind, metric: input.metric, summary: input.summary, evidence: input.evidence },
    })
    return { raised: true, alert: alert as MonitorAlertRow }
  })
}

/** Acknowledge an alert (a person, by name). Acknowledging twice keeps the first. */
export async function acknowledgeAlert(
  db: Db,
  input: { alertId: string; by: string; at: Date; comment?: string | null },
): Promise<{ alert: MonitorAlertRow; already: boolean }> {
  if (!input.by.trim())
    throw new KaizenError('INVALID_INPUT', 'acknowledging an alert needs who acknowledges it (--by <you>)')
  return db.transaction(async (tx) => {
    const [updated] = await tx
      .update(monitorAlerts)
      .set({ acknowledgedAt: input.at, acknowledgedBy: input.by })
      .where(and(eq(monitorAlerts.id, input.alertId), isNull(monitorAlerts.acknowledgedAt)))
      .returning()
    if (!updated) {
      const existing = await tx.query.monitorAlerts.findFirst({ where: eq(monitorAlerts.id, input.alertId) })
      if (!existing)
        throw new KaizenError(
          'NOT_FOUND',
          `no monitor alert "${input.alertId}"; \`kaizen monitor status --task <task>\` lists them`,
        )
      return { alert: existing, already: true }
    }
    await appendAudit(tx, {
      eventKey: `monitor-ack:${input.alertId}`,
      actor: input.by,
      action: 'monitor.alert.acknowledged',
      taskId: updated.taskId,
      subjectType: 'monitor_alert',
      subjectId: input.alertId,
      details: { comment: input.comment ?? null, key: updated.key },
    })
    return { alert: updated, already: false }
  })
}

/** Record that an alert started a campaign (kept once: the first campaign wins). */
export async function linkAlertCampaign(db: Db, alertId: string, campaignId: string): Promise<void> {
  await db
    .update(monitorAlerts)
    .set({ campaignId })
    .where(and(eq(monitorAlerts.id, alertId), isNull(monitorAlerts.campaignId)))
}

/** A task's alerts, newest first (`open`: not acknowledged). */
export async function listAlerts(
  db: Db,
  f: { taskId?: string; open?: boolean; limit?: number } = {},
): Promise<MonitorAlertRow[]> {
  const where = [
    ...(f.taskId ? [eq(monitorAlerts.taskId, f.taskId)] : []),
    ...(f.open ? [isNull(monitorAlerts.acknowledgedAt)] : []),
  ]
  return db
    .select()
    .from(monitorAlerts)
    .where(and(...where))
    .orderBy(desc(monitorAlerts.raisedAt))
    .limit(f.limit ?? 100)
}

/** Charge a check's judge spend to its UTC day (once per check id). */
export async function chargeJudge(
  db: Db,
  input: { taskId: string; checkId: string; day: string; usd: number; graded: number },
): Promise<void> {
  await db.insert(monitorJudgeCharges).values(input).onConflictDoNothing()
}

/** What the judge has cost a task's monitor on a UTC day, and how many requests it graded. */
export async function judgeSpend(db: Db, taskId: string, day: string): Promise<{ usd: number; graded: number }> {
  const [row] = await db
    .select({
      usd: sql<number>`coalesce(sum(${monitorJudgeCharges.usd}), 0)::float8`,
      graded: sql<number>`coalesce(sum(${monitorJudgeCharges.graded}), 0)::int`,
    })
    .from(monitorJudgeCharges)
    .where(and(eq(monitorJudgeCharges.taskId, taskId), eq(monitorJudgeCharges.day, day)))
  return { usd: Number(row?.usd ?? 0), graded: Number(row?.graded ?? 0) }
}
