/**
 * @module activities/campaign-data
 * What the campaign activities (./campaign.ts, ./search-round.ts, ./holdout.ts) read alike: the
 * campaign row, a split of its dataset, candidate ids, and the USD the holdout gate will need.
 */
import { heartbeat } from '@temporalio/activity'
import { and, asc, count, eq, sql } from 'drizzle-orm'
import { KaizenError } from '../core/errors.js'
import type { PromptContent } from '../core/prompt.js'
import type { Db } from '../db/client.js'
import { campaigns, datasetItems, evaluations, traffic } from '../db/schema.js'
import type { EvaluationDeps } from '../evaluation/deps.js'
import { evalItemColumns, requestFor, type EvalItem } from '../evaluation/evaluator.js'

export type Split = 'train' | 'validation' | 'holdout'

/** A campaign's candidate for a prompt version (one per version and campaign). */
export const candidateId = (campaignId: string, versionId: string) => `cand_${campaignId}_${versionId.slice(3)}`

export async function campaignRow(db: Db, campaignId: string) {
  const row = await db.query.campaigns.findFirst({ where: eq(campaigns.id, campaignId) })
  if (!row) throw new KaizenError('NOT_FOUND', `unknown campaign "${campaignId}"`)
  return row
}

/** The items of one split of a dataset, in their order. */
export async function loadItems(db: Db, datasetId: string, split: Split): Promise<EvalItem[]> {
  const rows = await db
    .select(evalItemColumns)
    .from(datasetItems)
    .innerJoin(traffic, eq(traffic.id, datasetItems.trafficId))
    .where(and(eq(datasetItems.datasetId, datasetId), eq(datasetItems.split, split)))
    .orderBy(asc(datasetItems.position))
  return rows
}

/**
 * USD to keep for the holdout gate: every arm on every holdout item at the mean cost per call so
 * far, plus the headroom the gate's last calls need. The spend check counts every call in flight
 * at its worst case (its input and the full `maxTokens` of output), so with `evalConcurrency`
 * calls in flight the gate needs that many worst cases above what it will really spend; without
 * them a search stopped by the budget could leave the gate unable to finish.
 * @param gate how many prompts the gate will run (the baseline and the best, or over models the
 *   best of each model) and those known now, whose worst cases count
 */
export async function holdoutReserve(
  deps: Pick<EvaluationDeps, 'db' | 'models' | 'evalConcurrency'>,
  campaignId: string,
  datasetId: string,
  gate: { arms: number; prompts: readonly PromptContent[] },
): Promise<number> {
  const [row] = await deps.db
    .select({ n: count(), usd: sql<string>`coalesce(sum(${evaluations.costUsd}), 0)` })
    .from(evaluations)
    .where(eq(evaluations.campaignId, campaignId))
  const paid = Number(row?.n ?? 0)
  const perCall = paid > 0 ? Number(row?.usd ?? 0) / paid : 0
  const items = await loadItems(deps.db, datasetId, 'holdout')
  let worst = 0
  for (const content of gate.prompts)
    for (const item of items)
      worst = Math.max(worst, deps.models.worstCaseUsd(requestFor(deps, { content }, item)) ?? 0)
  const calls = gate.arms * items.length
  return calls * perCall + Math.min(deps.evalConcurrency, calls) * worst
}

/** Heartbeats an evaluation's progress under a stage name. */
export const progress = (stage: string) => (done: number, total: number) => heartbeat({ stage, done, total })
