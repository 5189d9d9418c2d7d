/**
 * @module activities/campaign-data
 * What the campaign activities (./campaign.ts, ./search-round.ts, ./holdout.ts) read alike: the
 * campaign row, a split of its dataset, candidate ids, and the USD the holdout gate will need.
 */
import { heartbeat } from '@temporalio/activity'
import { and, asc, count, eq, sql } from 'drizzle-orm'
import { KaizenError } from '../core/errors.js'
import type { Db } from '../db/client.js'
import { campaigns, datasetItems, evaluations, traffic } from '../db/schema.js'
import { evalItemColumns, type EvalItem } from '../evaluation/evaluator.js'

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

/** USD to keep for the holdout gate: both arms on every holdout item, at the mean cost per call so far. */
export async function holdoutReserve(db: Db, campaignId: string, datasetId: string): Promise<number> {
  const [row] = await db
    .select({ n: count(), usd: sql<string>`coalesce(sum(${evaluations.costUsd}), 0)` })
    .from(evaluations)
    .where(eq(evaluations.campaignId, campaignId))
  const calls = Number(row?.n ?? 0)
  const perCall = calls > 0 ? Number(row?.usd ?? 0) / calls : 0
  const [h] = await db
    .select({ n: count() })
    .from(datasetItems)
    .where(and(eq(datasetItems.datasetId, datasetId), eq(datasetItems.split, 'holdout')))
  return 2 * Number(h?.n ?? 0) * perCall
}

/** Heartbeats an evaluation's progress under a stage name. */
export const progress = (stage: string) => (done: number, total: number) => heartbeat({ stage, done, total })
