/**
 * @module db/queries/audit
 * Append-only audit events. Every write carries an event key so a retried activity records the
 * event once.
 */
import { and, desc, eq, gte, like, type SQL } from 'drizzle-orm'
import type { Db } from '../client.js'
import { auditEvents } from '../schema.js'

export interface AuditEventInput {
  eventKey: string
  actor: string
  action: string
  taskId: string | null
  subjectType: string
  subjectId: string
  details: Record<string, unknown>
}

/** Executor: the database or a transaction on it. */
export type Exec = Pick<Db, 'insert' | 'select' | 'update' | 'delete' | 'execute'>

export async function appendAudit(db: Exec, event: AuditEventInput): Promise<void> {
  await db.insert(auditEvents).values(event).onConflictDoNothing({ target: auditEvents.eventKey })
}

export interface AuditFilter {
  task?: string
  /** An action, or a prefix ending in `.` (`canary.`). */
  action?: string
  actor?: string
  since?: Date
  limit?: number
}

/** The newest events matching the filter (at most `limit`, default 200), oldest first. */
export async function listAudit(db: Db, f: AuditFilter = {}) {
  const where: SQL[] = []
  if (f.task) where.push(eq(auditEvents.taskId, f.task))
  if (f.action)
    where.push(
      f.action.endsWith('.')
        ? like(auditEvents.action, `${f.action.replace(/[%_\\]/g, '\\$&')}%`)
        : eq(auditEvents.action, f.action),
    )
  if (f.actor) where.push(eq(auditEvents.actor, f.actor))
  if (f.since) where.push(gte(auditEvents.at, f.since))
  const rows = await db
    .select()
    .from(auditEvents)
    .where(and(...where))
    .orderBy(desc(auditEvents.id))
    .limit(f.limit ?? 200)
  return rows.reverse()
}
