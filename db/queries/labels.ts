/**
 * @module db/queries/labels
 * Labels point at prompt versions: `production` (the live version) and `canary` (with a traffic
 * weight). Every move is written to the append-only label history and the audit log in the same
 * transaction, keyed so that a retried move happens once.
 */
import { and, eq } from 'drizzle-orm'
import { KaizenError } from '../../core/errors.js'
import type { Db } from '../client.js'
import { labelHistory, labels } from '../schema.js'
import { appendAudit } from './audit.js'

export type LabelRow = typeof labels.$inferSelect
export type LabelName = LabelRow['label']

export interface LabelState {
  production: LabelRow | null
  canary: LabelRow | null
}

export async function getLabels(db: Db, taskId: string): Promise<LabelState> {
  const rows = await db.select().from(labels).where(eq(labels.taskId, taskId))
  return { production: rows.find((r) => r.label === 'production') ?? null, canary: rows.find((r) => r.label === 'canary') ?? null }
}

export interface LabelMove {
  /** Idempotency key: the same key never moves a label twice. */
  moveKey: string
  taskId: string
  label: LabelName
  /** null removes the label. */
  toVersionId: string | null
  weight: number
  canaryId: string | null
  reason: string
  actor: string
  /** Only move if the label currently belongs to this canary (or is absent when null is not allowed). */
  expectCanaryId?: string
  audit?: { action: string; subjectType: string; subjectId: string; details?: Record<string, unknown> }
}

/** Move a label; returns whether this call moved it (false when already applied or not owned). */
export async function moveLabel(db: Db, move: LabelMove): Promise<{ moved: boolean; fromVersionId: string | null }> {
  if (move.label === 'production' && move.toVersionId === null) {
    throw new KaizenError('INVALID_INPUT', 'the production label cannot be removed, only moved to another version')
  }
  return db.transaction(async (tx) => {
    const [current] = await tx
      .select()
      .from(labels)
      .where(and(eq(labels.taskId, move.taskId), eq(labels.label, move.label)))
      .for('update')
    if (move.expectCanaryId !== undefined && current?.canaryId !== move.expectCanaryId) {
      return { moved: false, fromVersionId: current?.promptVersionId ?? null }
    }
    const inserted = await tx
      .insert(labelHistory)
      .values({
        moveKey: move.moveKey,
        taskId: move.taskId,
        label: move.label,
        fromVersionId: current?.promptVersionId ?? null,
        toVersionId: move.toVersionId,
        weight: move.toVersionId === null ? null : move.weight,
        reason: move.reason,
        actor: move.actor,
        canaryId: move.canaryId,
      })
      .onConflictDoNothing({ target: labelHistory.moveKey })
      .returning({ id: labelHistory.id })
    if (inserted.length === 0) return { moved: false, fromVersionId: current?.promptVersionId ?? null }
    if (move.toVersionId === null) {
      await tx.delete(labels).where(and(eq(labels.taskId, move.taskId), eq(labels.label, move.label)))
    } else {
      const values = { promptVersionId: move.toVersionId, weight: move.weight, canaryId: move.canaryId, updatedAt: new Date() }
      await tx
        .insert(labels)
        .values({ taskId: move.taskId, label: move.label, ...values })
        .onConflictDoUpdate({ target: [labels.taskId, labels.label], set: values })
    }
    await appendAudit(tx, {
      eventKey: `label:${move.moveKey}`,
      actor: move.actor,
      action: move.audit?.action ?? `label.${move.label}.moved`,
      taskId: move.taskId,
      subjectType: move.audit?.subjectType ?? 'label',
      subjectId: move.audit?.subjectId ?? `${move.taskId}/${move.label}`,
      details: {
        label: move.label,
        from: current?.promptVersionId ?? null,
        to: move.toVersionId,
        weight: move.toVersionId === null ? null : move.weight,
        reason: move.reason,
        ...move.audit?.details,
      },
    })
    return { moved: true, fromVersionId: current?.promptVersionId ?? null }
  })
}
