/**
 * @module activities/campaign
 * The I/O steps of an optimization campaign. Workflows pass IDs; data stays in Postgres.
 * Every write is keyed, so a retried activity changes nothing twice. The search round
 * (./search-round.ts) and the holdout gate (./holdout.ts) have modules of their own;
 * `createCampaignActivities` returns them with the steps here.
 */
import { cancellationSignal } from '@temporalio/activity'
import { eq } from 'drizzle-orm'
import type { CampaignConfig } from '../core/config.js'
import { KaizenError } from '../core/errors.js'
import type { FanOutSettings, NeedsEvaluations } from '../core/fanout.js'
import { meanOf } from '../core/search/types.js'
import { appendAudit } from '../db/queries/audit.js'
import { currentGraderVersionId, getGraderSpec } from '../db/queries/graders.js'
import { getLabels } from '../db/queries/labels.js'
import { contentOf, getPromptVersion, requireTask } from '../db/queries/prompts.js'
import { sampleTraffic } from '../db/queries/sampling.js'
import { campaigns, candidates, datasetItems, datasets } from '../db/schema.js'
import { Evaluator } from '../evaluation/evaluator.js'
import { unitHash } from '../lib/hash.js'
import { campaignRow, candidateId, loadItems, progress, type Split } from './campaign-data.js'
import type { ActivityDeps } from './deps.js'
import { EvaluationPlanner } from './evaluation.js'
import { createHoldoutActivities } from './holdout.js'
import { createSearchRoundActivities } from './search-round.js'

export type { Split } from './campaign-data.js'
export type { CompareOnHoldoutInput, HoldoutComparison } from './holdout.js'
export { DEMO_MIN_DQ } from './search-ports.js'
export type { LegacySearchRoundInput, SearchRoundInput } from './search-round-input.js'
export type { SearchRoundResult } from './search-round.js'

export interface BeginCampaignInput {
  campaignId: string
  taskId: string
  trigger: 'cli' | 'api' | 'schedule' | 'demo' | 'test' | 'monitor'
  /** The quality monitor's alert id when the monitor started it. */
  triggerRef?: string
  config: CampaignConfig
}

export interface BeginCampaignResult {
  baselineVersionId: string
  baselineVersion: number
  graderVersionId: string
}

export interface SnapshotDatasetInput {
  campaignId: string
  taskId: string
  seed: string
  config: CampaignConfig
}

export interface SnapshotResult {
  datasetId: string
  counts: Record<Split, number>
}

export interface EvaluateBaselineInput {
  campaignId: string
  datasetId: string
  baselineVersionId: string
  graderVersionId: string
  budgetUsd?: number | null
  fanOut?: FanOutSettings
}

export interface BaselineResult {
  seedCandidateId: string
  trainMean: number | null
  validationMean: number | null
  rolloutsUsed: number
}

export interface FinishCampaignInput {
  campaignId: string
  status: 'completed' | 'failed' | 'stopped'
  decision: string
  reason: string
  winnerVersionId: string | null
  result: Record<string, unknown>
}

/** Record the campaign, pin the baseline (current production version) and the grader version. */
async function beginCampaign(deps: ActivityDeps, input: BeginCampaignInput): Promise<BeginCampaignResult> {
  const { db } = deps
  const task = await requireTask(db, input.taskId)
  const labels = await getLabels(db, input.taskId)
  if (!labels.production)
    throw new KaizenError('CONFLICT', `task "${input.taskId}" has no production prompt version to improve`)
  const existing = await db.query.campaigns.findFirst({ where: eq(campaigns.id, input.campaignId) })
  if (existing && existing.status !== 'running') {
    throw new KaizenError(
      'CONFLICT',
      `campaign id "${input.campaignId}" was already used (that campaign ${existing.status}); ` +
        'campaign ids are single-use, start it under a new id',
    )
  }
  const baselineVersionId = existing?.baselineVersionId ?? labels.production.promptVersionId
  const graderVersionId = existing?.graderVersionId ?? (await currentGraderVersionId(db, task))
  await db
    .insert(campaigns)
    .values({
      id: input.campaignId,
      taskId: input.taskId,
      trigger: input.trigger,
      triggerRef: input.triggerRef ?? null,
      status: 'running',
      config: input.config as unknown as Record<string, unknown>,
      baselineVersionId,
      graderVersionId,
    })
    .onConflictDoNothing({ target: campaigns.id })
  const baseline = await getPromptVersion(db, baselineVersionId)
  await appendAudit(db, {
    eventKey: `campaign:${input.campaignId}:started`,
    actor: `trigger:${input.trigger}`,
    action: 'campaign.started',
    taskId: input.taskId,
    subjectType: 'campaign',
    subjectId: input.campaignId,
    details: {
      baselineVersionId,
      baselineVersion: baseline.version,
      graderVersionId,
      ...(input.triggerRef ? { triggerRef: input.triggerRef } : {}),
    },
  })
  return { baselineVersionId, baselineVersion: baseline.version, graderVersionId }
}

/** Freeze a sample of recent traffic with known outcomes and split it by hash. */
async function snapshotDataset(deps: ActivityDeps, input: SnapshotDatasetInput): Promise<SnapshotResult> {
  const { db } = deps
  const datasetId = `ds_${input.campaignId}`
  const existing = await db.query.datasets.findFirst({ where: eq(datasets.id, datasetId) })
  if (existing) return { datasetId, counts: existing.counts }
  const { size, windowHours, minItems } = input.config.sample
  // The sample is the traffic as of the campaign's start: traffic arriving while the campaign
  // runs never changes what a (retried or replayed) snapshot contains.
  const campaign = await campaignRow(db, input.campaignId)
  const until = campaign.createdAt
  const since = new Date(until.getTime() - windowHours * 3600_000)
  // Seeded, in SQL, fast on large tables (db/queries/sampling.ts): usable records only, golden cases
  // kept out (they are checked once, at the ship decision), near-duplicates removed.
  const rows = (
    await sampleTraffic(db, {
      taskId: input.taskId,
      seed: input.seed,
      size,
      since,
      until,
      stratifyBy: input.config.sample.stratifyBy ?? null,
      halfLifeHours: input.config.sample.halfLifeHours ?? null,
      dedupe: input.config.sample.dedupe ?? true,
    })
  ).map((id) => ({ id }))
  if (rows.length < minItems) {
    throw new KaizenError(
      'INSUFFICIENT_DATA',
      `task "${input.taskId}" has ${rows.length} usable traffic records (with a known outcome, no error) ` +
        `in the ${windowHours} h before the campaign started; the campaign needs at least ${minItems}. ` +
        'Send more traffic, or lower sample.minItems / raise sample.windowHours.',
    )
  }
  const { train, validation } = input.config.splits
  const counts: Record<Split, number> = { train: 0, validation: 0, holdout: 0 }
  const items = rows
    .map((r) => {
      const u = unitHash(input.seed, 'split', r.id)
      const split: Split = u < train ? 'train' : u < train + validation ? 'validation' : 'holdout'
      return { id: r.id, split, order: unitHash(input.seed, 'order', r.id) }
    })
    .sort((a, b) => a.order - b.order)
    .map((r) => ({ datasetId, trafficId: r.id, split: r.split, position: counts[r.split]++ }))
  for (const s of ['train', 'validation', 'holdout'] as const) {
    if (counts[s] < 3)
      throw new KaizenError(
        'INSUFFICIENT_DATA',
        `the ${s} split got ${counts[s]} items; sample more traffic or change the split shares`,
      )
  }
  await db.transaction(async (tx) => {
    const created = await tx
      .insert(datasets)
      .values({
        id: datasetId,
        taskId: input.taskId,
        campaignId: input.campaignId,
        seed: input.seed,
        spec: { ...input.config.sample, splits: input.config.splits },
        counts,
      })
      .onConflictDoNothing({ target: datasets.id })
      .returning({ id: datasets.id })
    if (created.length === 0) return
    for (let i = 0; i < items.length; i += 500)
      await tx
        .insert(datasetItems)
        .values(items.slice(i, i + 500))
        .onConflictDoNothing()
    await tx.update(campaigns).set({ datasetId, status: 'running' }).where(eq(campaigns.id, input.campaignId))
  })
  return { datasetId, counts }
}

/** Score the baseline on train and validation; it becomes the seed candidate. */
async function evaluateBaseline(
  deps: ActivityDeps,
  evaluator: Evaluator,
  input: EvaluateBaselineInput,
): Promise<BaselineResult | NeedsEvaluations> {
  const { db } = deps
  const spec = await getGraderSpec(db, input.graderVersionId)
  const version = await getPromptVersion(db, input.baselineVersionId)
  const common = {
    campaignId: input.campaignId,
    content: contentOf(version),
    graderVersionId: input.graderVersionId,
    spec,
    signal: cancellationSignal(),
    budgetUsd: input.budgetUsd ?? null,
  }
  const trainItems = await loadItems(db, input.datasetId, 'train')
  const validationItems = await loadItems(db, input.datasetId, 'validation')
  if (input.fanOut) {
    const planner = new EvaluationPlanner(deps, input.fanOut)
    await planner.defer(common, [...trainItems, ...validationItems])
    if (planner.deferred) return planner.needs()
  }
  const train = await evaluator.evaluate({ ...common, items: trainItems, onProgress: progress('baseline:train') })
  const validation = await evaluator.evaluate({
    ...common,
    items: validationItems,
    onProgress: progress('baseline:validation'),
  })
  const seedCandidateId = candidateId(input.campaignId, version.id)
  await db
    .insert(candidates)
    .values({
      id: seedCandidateId,
      campaignId: input.campaignId,
      promptVersionId: version.id,
      parentCandidateIds: [],
      operator: 'seed',
      round: 0,
      feedback: [],
      status: 'seed',
      validationMean: meanOf(validation),
    })
    .onConflictDoNothing()
  return {
    seedCandidateId,
    trainMean: meanOf(train),
    validationMean: meanOf(validation),
    rolloutsUsed: await deps.models.rollouts(input.campaignId),
  }
}

/** The newest canary still holding the task's canary label, if any. */
async function findActiveCanary(
  deps: ActivityDeps,
  input: { taskId: string },
): Promise<{ canaryId: string; versionId: string } | null> {
  const { db } = deps
  const labels = await getLabels(db, input.taskId)
  return labels.canary?.canaryId ? { canaryId: labels.canary.canaryId, versionId: labels.canary.promptVersionId } : null
}

/** Record how the campaign ended (audited). */
async function finishCampaign(deps: ActivityDeps, input: FinishCampaignInput): Promise<void> {
  const { db } = deps
  // A campaign that failed before it was recorded (e.g. unknown task) has nothing to update.
  const campaign = await db.query.campaigns.findFirst({ where: eq(campaigns.id, input.campaignId) })
  if (!campaign) return
  await db
    .update(campaigns)
    .set({
      status: input.status,
      decision: input.decision,
      reason: input.reason,
      winnerVersionId: input.winnerVersionId,
      result: input.result,
      finishedAt: new Date(),
    })
    .where(eq(campaigns.id, input.campaignId))
  await appendAudit(db, {
    eventKey: `campaign:${input.campaignId}:finished`,
    actor: 'kaizen',
    action: `campaign.${input.status}`,
    taskId: campaign.taskId,
    subjectType: 'campaign',
    subjectId: input.campaignId,
    details: {
      decision: input.decision,
      reason: input.reason,
      winnerVersionId: input.winnerVersionId,
      ...input.result,
    },
  })
}

export function createCampaignActivities(deps: ActivityDeps) {
  const evaluator = new Evaluator(deps)
  const { searchRound } = createSearchRoundActivities(deps)
  const { compareOnHoldout, compareFinalists } = createHoldoutActivities(deps)
  return {
    beginCampaign: (input: BeginCampaignInput) => beginCampaign(deps, input),
    snapshotDataset: (input: SnapshotDatasetInput) => snapshotDataset(deps, input),
    evaluateBaseline: (input: EvaluateBaselineInput) => evaluateBaseline(deps, evaluator, input),
    searchRound,
    compareOnHoldout,
    compareFinalists,
    findActiveCanary: (input: { taskId: string }) => findActiveCanary(deps, input),
    finishCampaign: (input: FinishCampaignInput) => finishCampaign(deps, input),
  }
}

export type CampaignActivities = ReturnType<typeof createCampaignActivities>
