/**
 * @module db/queries/audit
 * Append-only audit events. Every write carries an event key so a retried activity records the
 * event once.
 */
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
