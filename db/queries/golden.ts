/**
 * @module db/queries/golden
 * A task's golden set: curated traffic records (cases whose right answer is known) that no shipped
 * prompt may break. Adding and removing cases are audit events; a case must belong to the task
 * and carry a reference (what resolved it), or there is nothing to check against.
 */
import { randomUUID } from 'node:crypto'
import { and, asc, eq, inArray } from 'drizzle-orm'
import { KaizenError } from '../../core/errors.js'
import type { Db } from '../client.js'
import { goldenCases, traffic } from '../schema.js'
import { appendAudit, type Exec } from './audit.js'

export interface GoldenCase {
  trafficId: string
  addedBy: string
  note: string | null
  createdAt: Date
}

interface Change {
  taskId: string
  actor: string
  note?: string | null
}

/** Record a membership change (when anything changed) and return the ids it touched, sorted. */
async function audited(
  tx: Exec,
  what: 'added' | 'removed',
  input: Change,
  rows: ReadonlyArray<{ trafficId: string }>,
): Promise<string[]> {
  const ids = rows.map((r) => r.trafficId).sort()
  if (ids.length > 0) {
    await appendAudit(tx, {
      eventKey: `golden:${input.taskId}:${what}:${randomUUID()}`,
      actor: input.actor,
      action: `golden.${what}`,
      taskId: input.taskId,
      subjectType: 'task',
      subjectId: input.taskId,
      details: { trafficIds: ids, note: input.note ?? null },
    })
  }
  return ids
}

export async function listGolden(db: Db, taskId: string): Promise<GoldenCase[]> {
  return db
    .select({
      trafficId: goldenCases.trafficId,
      addedBy: goldenCases.addedBy,
      note: goldenCases.note,
      createdAt: goldenCases.createdAt,
    })
    .from(goldenCases)
    .where(eq(goldenCases.taskId, taskId))
    .orderBy(asc(goldenCases.trafficId))
}

/** Add traffic records to the golden set (already present: unchanged). Returns the ids added now. */
export async function addGolden(db: Db, input: Change & { trafficIds: readonly string[] }): Promise<string[]> {
  const ids = [...new Set(input.trafficIds)]
  if (ids.length === 0)
    throw new KaizenError(
      'INVALID_INPUT',
      'traffic ids: name at least one traffic record to add (e.g. --traffic tr_123)',
    )
  const rows = await db
    .select({ id: traffic.id, taskId: traffic.taskId, reference: traffic.reference })
    .from(traffic)
    .where(inArray(traffic.id, ids))
  const found = new Map(rows.map((r) => [r.id, r]))
  const problems: string[] = []
  for (const id of ids) {
    const r = found.get(id)
    if (!r) problems.push(`"${id}" is not a traffic record`)
    else if (r.taskId !== input.taskId) problems.push(`"${id}" belongs to task "${r.taskId}", not "${input.taskId}"`)
    else if (r.reference === null)
      problems.push(`"${id}" has no reference (what resolved the case); record its outcome first`)
  }
  if (problems.length > 0)
    throw new KaizenError('INVALID_INPUT', `traffic ids: ${problems.join('; ')}; nothing was added`)
  return db.transaction(async (tx) => {
    const added = await tx
      .insert(goldenCases)
      .values(
        ids.map((trafficId) => ({ taskId: input.taskId, trafficId, addedBy: input.actor, note: input.note ?? null })),
      )
      .onConflictDoNothing()
      .returning({ trafficId: goldenCases.trafficId })
    return audited(tx, 'added', input, added)
  })
}

/** Remove traffic records from the golden set. Returns the ids removed. */
export async function removeGolden(db: Db, input: Change & { trafficIds: readonly string[] }): Promise<string[]> {
  const ids = [...new Set(input.trafficIds)]
  if (ids.length === 0)
    throw new KaizenError(
      'INVALID_INPUT',
      'traffic ids: name at least one golden case to remove (e.g. --traffic tr_123)',
    )
  return db.transaction(async (tx) => {
    const removed = await tx
      .delete(goldenCases)
      .where(and(eq(goldenCases.taskId, input.taskId), inArray(goldenCases.trafficId, ids)))
      .returning({ trafficId: goldenCases.trafficId })
    return audited(tx, 'removed', input, removed)
  })
}
