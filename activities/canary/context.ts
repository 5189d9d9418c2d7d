/**
 * @module activities/canary/context
 * What every canary activity shares: the dependencies, the canary's row, taking the canary label
 * off traffic, and setting the canary's state.
 */
import { eq } from 'drizzle-orm'
import { KaizenError } from '../../core/errors.js'
import { moveLabel, type LabelMove } from '../../db/queries/labels.js'
import { canaries } from '../../db/schema.js'
import type { ActivityDeps } from '../deps.js'

export function canaryContext(deps: ActivityDeps) {
  const { db } = deps

  async function canaryRow(canaryId: string) {
    const row = await db.query.canaries.findFirst({ where: eq(canaries.id, canaryId) })
    if (!row) throw new KaizenError('NOT_FOUND', `unknown canary "${canaryId}"`)
    return row
  }

  /** Take this canary's label off traffic — only if it still holds it. */
  function releaseLabel(
    canary: { id: string; taskId: string },
    step: string,
    reason: string,
    actor: string,
    audit?: LabelMove['audit'],
  ) {
    return moveLabel(db, {
      moveKey: `canary:${canary.id}:${step}`,
      taskId: canary.taskId,
      label: 'canary',
      toVersionId: null,
      weight: 0,
      canaryId: canary.id,
      reason,
      actor,
      expect: { canaryIn: [canary.id] },
      ...(audit ? { audit } : {}),
    })
  }

  async function setState(canaryId: string, state: string, reason: string | null, ended = false) {
    await db
      .update(canaries)
      .set({ state, reason, ...(ended ? { endedAt: new Date() } : {}) })
      .where(eq(canaries.id, canaryId))
  }

  return { deps, db, canaryRow, releaseLabel, setState }
}

export type CanaryContext = ReturnType<typeof canaryContext>
