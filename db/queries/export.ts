/**
 * @module db/queries/export
 * A task's recent answered traffic, as the lines a person labels for calibration
 * (`kaizen grader calibrate --labels`): `{ id, input, output, reference }`, newest first. Erased
 * records, failed calls and golden cases without an answer are left out.
 */
import { and, desc, eq, isNotNull, isNull } from 'drizzle-orm'
import type { CaseReference } from '../../core/decision.js'
import type { Db } from '../client.js'
import { traffic } from '../schema.js'

export interface ExportedRecord {
  id: string
  input: Record<string, string>
  output: string
  reference: CaseReference | null
}

export async function recentAnswers(db: Db, taskId: string, limit: number): Promise<ExportedRecord[]> {
  const rows = await db
    .select({ id: traffic.id, input: traffic.input, output: traffic.output, reference: traffic.reference })
    .from(traffic)
    .where(and(eq(traffic.taskId, taskId), isNull(traffic.error), isNull(traffic.expiredAt), isNotNull(traffic.output)))
    .orderBy(desc(traffic.createdAt), desc(traffic.id))
    .limit(limit)
  return rows.map((r) => ({ id: r.id, input: r.input, output: r.output as string, reference: r.reference }))
}
