/**
 * @module db/queries/retention
 * Retention of production traffic, per task (`tasks.retention_days`; null keeps it forever).
 *
 * Applying it to records older than the cutoff:
 * - a record nothing refers to is **deleted**, with its grades;
 * - a record a campaign dataset, a grading batch or feedback refers to is **erased**: its input
 *   values, output, error and reference are removed, its routing key replaced by a hash, the
 *   reasons of its grades blanked, and `expired_at` set, while its id, model, tokens, latency,
 *   cost and grade values stay, so every prompt version stays traceable to the sample and scores
 *   that produced it. Feedback rows are append-only and stay as sent (redacted at storage);
 * - a **golden case** is kept whole until it leaves the golden set (it is a curated test case);
 * - a record in a dataset snapshotted in the last `graceHours` (a campaign may still be reading
 *   it) is left for a later run.
 *
 * Work goes in chunks (`chunk` rows per statement), so a large backlog never holds long locks.
 * Setting a task's retention and every run that removed something are audit events.
 */
import { eq, sql } from 'drizzle-orm'
import { KaizenError } from '../../core/errors.js'
import type { RetentionResult } from '../../core/retention.js'
import type { Db } from '../client.js'
import { tasks } from '../schema.js'
import { appendAudit } from './audit.js'

export const MAX_RETENTION_DAYS = 36_500

export async function setRetention(
  db: Db,
  input: { taskId: string; days: number | null; actor: string },
): Promise<void> {
  if (input.days !== null && (!Number.isInteger(input.days) || input.days < 1 || input.days > MAX_RETENTION_DAYS)) {
    throw new KaizenError(
      'INVALID_INPUT',
      `retention days must be a whole number from 1 to ${MAX_RETENTION_DAYS} (got ${input.days}); use ` +
        `"forever" to keep traffic indefinitely`,
      {
        details: { fields: ['days'] },
      },
    )
  }
  await db.transaction(async (tx) => {
    const [before] = await tx
      .select({ days: tasks.retentionDays })
      .from(tasks)
      .where(eq(tasks.id, input.taskId))
      .for('update')
    if (!before)
      throw new KaizenError('NOT_FOUND', `unknown task "${input.taskId}"; \`kaizen prompts list\` shows the tasks`)
    await tx.update(tasks).set({ retentionDays: input.days }).where(eq(tasks.id, input.taskId))
    await appendAudit(tx, {
      eventKey: `retention.set:${input.taskId}:${Date.now()}:${Math.random().toString(36).slice(2)}`,
      actor: input.actor,
      action: 'retention.set',
      taskId: input.taskId,
      subjectType: 'task',
      subjectId: input.taskId,
      details: { from: before.days, to: input.days },
    })
  })
}

const rowsOf = (r: unknown) => (r as { rows: Array<Record<string, unknown>> }).rows

/**
 * Feedback or a dataset snapshot that came to refer to a record while the delete was waiting on it
 * fails the delete with a foreign-key violation (23503). Run again, the statement sees the
 * reference and leaves the record to be erased instead.
 */
async function retriedOnNewReference<T>(run: () => Promise<T>, attempts = 5): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await run()
    } catch (err) {
      const code = (err as { code?: string; cause?: { code?: string } }).cause?.code ?? (err as { code?: string }).code
      if (code !== '23503' || attempt >= attempts) throw err
    }
  }
}

/**
 * Apply retention to one task, or every task that has it. Idempotent: a second run finds nothing.
 * `onProgress` is called after every chunk (activities heartbeat there).
 */
export async function applyRetention(
  db: Db,
  options: {
    taskId?: string
    now?: Date
    chunk?: number
    graceHours?: number
    actor?: string
    onProgress?: (done: { deleted: number; erased: number }) => void
  } = {},
): Promise<RetentionResult[]> {
  const now = options.now ?? new Date()
  const chunk = options.chunk ?? 5_000
  const graceHours = options.graceHours ?? 24
  const graceSince = new Date(now.getTime() - graceHours * 3_600_000)
  const configured = await db
    .select({ id: tasks.id, days: tasks.retentionDays })
    .from(tasks)
    .where(options.taskId ? eq(tasks.id, options.taskId) : sql`${tasks.retentionDays} is not null`)
  if (options.taskId && configured.length === 0)
    throw new KaizenError('NOT_FOUND', `unknown task "${options.taskId}"; \`kaizen prompts list\` shows the tasks`)
  const results: RetentionResult[] = []
  for (const task of configured) {
    if (task.days === null) continue
    const cutoff = new Date(now.getTime() - task.days * 86_400_000)
    // Records `x` of the task past the period, not yet erased and not golden cases; and whether
    // something refers to them (deleted if not, erased in place if so).
    const expiring = sql`x.task_id = ${task.id} and x.created_at < ${cutoff.toISOString()}::timestamptz
      and x.expired_at is null
      and not exists (select 1 from golden_cases g where g.traffic_id = x.id)`
    const referenced = sql`(exists (select 1 from dataset_items d where d.traffic_id = x.id)
      or exists (select 1 from grading_batch_items b where b.traffic_id = x.id)
      or exists (select 1 from feedback f where f.traffic_id = x.id))`
    let deleted = 0
    let erased = 0
    for (;;) {
      const gone = rowsOf(
        await retriedOnNewReference(() =>
          db.execute(sql`
          with doomed as (
            select x.id from traffic x where ${expiring} and not ${referenced} limit ${chunk}
          ), scrubbed as (
            delete from scores s using doomed where s.subject_type = 'traffic' and s.subject_id = doomed.id
          )
          delete from traffic t using doomed where t.id = doomed.id returning t.id`),
        ),
      ).length
      const wiped = rowsOf(
        await db.execute(sql`
          with wiped as (
            update traffic t set
              input = coalesce(
                (select jsonb_object_agg(k, '[expired]') from jsonb_object_keys(t.input) k), '{}'::jsonb),
              output = null, error = null, reference = null, expired_at = ${now.toISOString()}::timestamptz,
              routing_key = 'expired:' || left(md5(t.routing_key), 16)
            where t.id in (
              select x.id from traffic x
              where ${expiring} and ${referenced}
                and not exists (
                  select 1 from dataset_items d join datasets ds on ds.id = d.dataset_id
                  where d.traffic_id = x.id and ds.created_at >= ${graceSince.toISOString()}::timestamptz)
              limit ${chunk}
            )
            returning t.id
          ), reasons as (
            -- Judge reasons can quote the erased output: the scores stay, their words go.
            update scores s set reason = '[expired]',
              dimensions = coalesce(
                (select jsonb_object_agg(k, v || '{"reason":"[expired]"}'::jsonb)
                 from jsonb_each(s.dimensions) e(k, v)),
                '{}'::jsonb)
            from wiped where s.subject_type = 'traffic' and s.subject_id = wiped.id
          )
          select id from wiped`),
      ).length
      deleted += gone
      erased += wiped
      options.onProgress?.({ deleted, erased })
      if (gone < chunk && wiped < chunk) break
    }
    if (deleted + erased > 0) {
      await appendAudit(db, {
        eventKey: `retention.applied:${task.id}:${now.toISOString()}`,
        actor: options.actor ?? 'system:retention',
        action: 'retention.applied',
        taskId: task.id,
        subjectType: 'task',
        subjectId: task.id,
        details: { retentionDays: task.days, cutoff: cutoff.toISOString(), deleted, erased },
      })
    }
    results.push({ taskId: task.id, retentionDays: task.days, cutoff: cutoff.toISOString(), deleted, erased })
  }
  return results
}
