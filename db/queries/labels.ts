/**
 * @module db/queries/labels
 * Labels point at prompt versions: `production` (the live version) and `canary` (with a traffic
 * weight). Every move is written to the append-only label history and the audit log in the same
 * transaction, keyed so that a retried move happens once, and guarded by compare-and-swap
 * expectations so that two actors can never silently overwrite each other's move.
 */
import { and, eq, sql } from 'drizzle-orm'
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
  return {
    production: rows.find((r) => r.label === 'production') ?? null,
    canary: rows.find((r) => r.label === 'canary') ?? null,
  }
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
  /**
   * Compare-and-swap. The move happens only if the label is absent (when `absent` is allowed), or
   * present and owned by one of `canaryIn` and pointing at `versionId` (each when given).
   */
  expect?: { absent?: boolean; canaryIn?: string[]; versionId?: string }
  audit?: { action: string; subjectType: string; subjectId: string; details?: Record<string, unknown> }
}

export interface LabelMoveResult {
  /** This call moved the label. */
  moved: boolean
  /** The same move (same key) was already applied: a retry. */
  alreadyApplied: boolean
  /** The expectations did not hold: the label was left alone. */
  conflict: string | null
  fromVersionId: string | null
}

function expectationFailure(move: LabelMove, current: LabelRow | undefined): string | null {
  const e = move.expect
  if (!e) return null
  const label = `the ${move.label} label of "${move.taskId}"`
  if (!current) return e.absent || (!e.canaryIn && e.versionId === undefined) ? null : `${label} is not set`
  if (e.absent && !e.canaryIn && e.versionId === undefined)
    return `${label} is already set (${current.promptVersionId})`
  if (e.canaryIn && !e.canaryIn.includes(current.canaryId ?? ''))
    return `${label} belongs to ${current.canaryId ?? 'no canary'}`
  if (e.versionId !== undefined && current.promptVersionId !== e.versionId)
    return `${label} points at ${current.promptVersionId}, not ${e.versionId}`
  return null
}

/**
 * Move a label. Label moves of a task are serialised (advisory lock), so an expectation checked
 * here still holds when the move is written.
 */
export async function moveLabel(db: Db, move: LabelMove): Promise<LabelMoveResult> {
  if (move.label === 'production' && move.toVersionId === null) {
    throw new KaizenError('INVALID_INPUT', 'the production label cannot be removed, only moved to another version')
  }
  return db.transaction(async (tx) => {
    await tx.execute(sql`SELECT pg_advisory_xact_lock(hashtext(${`kaizen-labels:${move.taskId}`}))`)
    const [done] = await tx.select().from(labelHistory).where(eq(labelHistory.moveKey, move.moveKey))
    if (done) return { moved: false, alreadyApplied: true, conflict: null, fromVersionId: done.fromVersionId }
    const [current] = await tx
      .select()
      .from(labels)
      .where(and(eq(labels.taskId, move.taskId), eq(labels.label, move.label)))
    const conflict = expectationFailure(move, current)
    if (conflict)
      return { moved: false, alreadyApplied: false, conflict, fromVersionId: current?.promptVersionId ?? null }
    await tx.insert(labelHistory).values({
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
    if (move.toVersionId === null) {
      await tx.delete(labels).where(and(eq(labels.taskId, move.taskId), eq(labels.label, move.label)))
    } else {
      const values = {
        promptVersionId: move.toVersionId,
        weight: move.weight,
        canaryId: move.canaryId,
        updatedAt: new Date(),
      }
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
    return { moved: true, alreadyApplied: false, conflict: null, fromVersionId: current?.promptVersionId ?? null }
  })
}
