/**
 * @module db/queries/promotion
 * A person moves a task's production label by hand: promote a version, or roll back to the one
 * production served before (or to a named version). Each is a compare-and-swap on the label
 * (a move that lost a race changes nothing and says so) and an audit event with who and why.
 * While a canary holds the task, production is the canary's to decide: refused.
 */
import { randomUUID } from 'node:crypto'
import { and, desc, eq, isNotNull } from 'drizzle-orm'
import { KaizenError } from '../../core/errors.js'
import type { Db } from '../client.js'
import { labelHistory } from '../schema.js'
import { getLabels, moveLabel } from './labels.js'
import { findPromptVersion, getPromptVersion, type PromptVersionRow } from './prompts.js'

export interface ManualMove {
  /** Who moves it (recorded), e.g. `user:alice`. */
  actor: string
  reason: string
}

export interface ManualMoveResult {
  taskId: string
  from: { id: string; version: number } | null
  to: { id: string; version: number }
  /** False when production already served that version. */
  moved: boolean
}

async function moveProduction(
  db: Db,
  target: PromptVersionRow,
  input: ManualMove,
  action: 'prompt.promoted' | 'prompt.rolled-back',
): Promise<ManualMoveResult> {
  const labels = await getLabels(db, target.taskId)
  if (labels.canary)
    throw new KaizenError(
      'CONFLICT',
      `canary ${labels.canary.canaryId ?? '(unnamed)'} holds task "${target.taskId}": approve or reject it ` +
        `(kaizen canary approve|reject) before moving production by hand; nothing was changed`,
    )
  const current = labels.production ? await getPromptVersion(db, labels.production.promptVersionId) : null
  const to = { id: target.id, version: target.version }
  const from = current ? { id: current.id, version: current.version } : null
  if (current?.id === target.id) return { taskId: target.taskId, from, to, moved: false }
  const move = await moveLabel(db, {
    moveKey: `manual:${target.taskId}:${current?.id ?? 'none'}:${target.id}:${randomUUID()}`,
    taskId: target.taskId,
    label: 'production',
    toVersionId: target.id,
    weight: 1,
    canaryId: null,
    reason: input.reason,
    actor: input.actor,
    expect: current ? { versionId: current.id } : { absent: true },
    audit: {
      action,
      subjectType: 'prompt_version',
      subjectId: target.id,
      details: { fromVersion: from?.version ?? null, toVersion: target.version },
    },
  })
  if (move.conflict)
    throw new KaizenError(
      'CONFLICT',
      `production of "${target.taskId}" changed meanwhile (${move.conflict}); nothing was moved; look again ` +
        `(kaizen task show ${target.taskId}) and retry`,
    )
  return { taskId: target.taskId, from, to, moved: true }
}

/** Put a version (`task@n` or `pv_…`) in production. */
export async function promoteVersion(db: Db, ref: string, input: ManualMove): Promise<ManualMoveResult> {
  return moveProduction(db, await findPromptVersion(db, ref), input, 'prompt.promoted')
}

/** Put production back on the version it served before the current one, or on version `to`. */
export async function rollbackProduction(
  db: Db,
  taskId: string,
  input: ManualMove & { to?: number | null },
): Promise<ManualMoveResult> {
  if (input.to !== undefined && input.to !== null)
    return moveProduction(db, await findPromptVersion(db, `${taskId}@${input.to}`), input, 'prompt.rolled-back')
  const current = (await getLabels(db, taskId)).production
  if (!current) throw new KaizenError('NOT_FOUND', `task "${taskId}" has no production version to roll back`)
  const [last] = await db
    .select({ from: labelHistory.fromVersionId })
    .from(labelHistory)
    .where(
      and(
        eq(labelHistory.taskId, taskId),
        eq(labelHistory.label, 'production'),
        eq(labelHistory.toVersionId, current.promptVersionId),
        isNotNull(labelHistory.fromVersionId),
      ),
    )
    .orderBy(desc(labelHistory.id))
    .limit(1)
  if (!last?.from)
    throw new KaizenError(
      'NOT_FOUND',
      `production of "${taskId}" has no earlier version to go back to; name one with --to <n>`,
    )
  return moveProduction(db, await getPromptVersion(db, last.from), input, 'prompt.rolled-back')
}
