/**
 * @module activities/campaign
 * The I/O steps of an optimization campaign. Workflows pass IDs; data stays in Postgres.
 * Every write is keyed, so a retried activity changes nothing twice.
 */
import { heartbeat, cancellationSignal } from '@temporalio/activity'
import { and, asc, count, eq, isNotNull, isNull, lt, sql } from 'drizzle-orm'
import type { CampaignConfig } from '../core/config.js'
import type { FanOutSettings, NeedsEvaluations } from '../core/fanout.js'
import { KaizenError, isKaizenError } from '../core/errors.js'
import { Rng } from '../core/rng.js'
import { reflectiveRound } from '../core/search/reflective.js'
import { copiesTraining } from '../core/search/edits.js'
import { STRATEGIES, runRound, type StrategyName } from '../core/search/strategies.js'
import { LlmProposer } from '../proposers/llm.js'
import { approxTokens } from '../providers/simulation.js'
import {
  DEFAULT_STRATEGY_SETTINGS,
  incumbent,
  meanOf,
  type Candidate,
  type DemonstrationSource,
  type ItemScore,
  type NewCandidate,
  type Proposal,
  type RoundOutcome,
  type SearchPorts,
  type StrategySettings,
} from '../core/search/types.js'
import { pairedTest, type PairedTestResult } from '../core/stats/paired.js'
import { appendAudit } from '../db/queries/audit.js'
import { sampleTraffic } from '../db/queries/sampling.js'
import { currentGraderVersionId, getGraderSpec } from '../db/queries/graders.js'
import { getLabels } from '../db/queries/labels.js'
import type { PromptContent } from '../core/prompt.js'
import { contentOf, createPromptVersion, getPromptVersion, requireTask } from '../db/queries/prompts.js'
import {
  campaigns,
  candidates,
  datasetItems,
  datasets,
  evaluations,
  goldenCases,
  promptVersions,
  scores,
  searchRounds,
  traffic,
} from '../db/schema.js'
import {
  compareGolden,
  compareSafety,
  nonRegression,
  type GoldenComparison,
  type SafetyComparison,
  type ShipFailure,
} from '../core/ship.js'
import { unitHash } from '../lib/hash.js'
import { SimulationProposer } from '../sim/proposer.js'
import type { ActivityDeps } from './deps.js'
import { Deferred, EvaluationPlanner, InFlight } from './evaluation.js'
import { Evaluator, type EvalItem } from '../evaluation/evaluator.js'
import { gradeTraffic } from '../evaluation/grade-traffic.js'
import type { StoredSpec } from '../core/grader-spec.js'

export type Split = 'train' | 'validation' | 'holdout'

export interface BeginCampaignInput {
  campaignId: string
  taskId: string
  trigger: 'cli' | 'api' | 'schedule' | 'demo' | 'test'
  config: CampaignConfig
}

export interface BeginCampaignResult {
  baselineVersionId: string
  baselineVersion: number
  graderVersionId: string
  scenarioId: string | null
}

export interface SnapshotResult {
  datasetId: string
  counts: Record<Split, number>
}

export interface BaselineResult {
  seedCandidateId: string
  trainMean: number | null
  validationMean: number | null
  rolloutsUsed: number
}

export interface SearchRoundInput {
  campaignId: string
  round: number
  seed: string
  datasetId: string
  graderVersionId: string
  scenarioId: string | null
  proposals: number
  minibatchSize: number
  rolloutBudget: number
  budgetUsd?: number | null
  /** Absent in campaigns started before strategies could be chosen: the reflective (select-best) one. */
  strategy?: StrategyName
  /** The LLM proposer's model (required for real tasks; simulated ones use the simulated proposer without it). */
  proposerModel?: string
  maxSentences?: number
  maxPromptTokens?: number
  beamWidth?: number
  population?: number
  mergeEvery?: number
  /** Rank by estimates pooled across candidates; absent in campaigns started before pooling (own validation means). */
  pooled?: boolean
  /** Defer large evaluations to chunk activities (core/fanout.ts); absent: evaluate everything here. */
  fanOut?: FanOutSettings
  /** A chunk of this round ran into the spend budget: end the round as the budget stop does. */
  budgetExhausted?: string | null
}

export interface SearchRoundResult {
  round: number
  proposals: number
  accepted: number
  exhausted: boolean
  saturated: boolean
  /** validationMean: its own mean over the validation split; estimate: the pooled estimate it was ranked by (when pooling). */
  best: { candidateId: string; versionId: string; validationMean: number; estimate?: number }
  rolloutsUsed: number
  /** Set when the USD budget stopped the search. */
  budgetStop?: { spentUsd: number; budgetUsd: number; reserveUsd: number; reason: string }
  spentUsd?: number
}

export interface HoldoutComparison extends PairedTestResult {
  baselineHoldoutDQ: number
  winnerHoldoutDQ: number
  /** The task's golden set, baseline vs winner (null: the task has none). Absent in older results. */
  golden?: GoldenComparison | null
  /** Safety-check failures on the holdout and golden items. Absent in older results. */
  safety?: SafetyComparison
  /** Why the winner may not ship although better (golden or safety regression); empty: none. */
  regressions?: ShipFailure[]
  /** Mean cost per request of the winner relative to the baseline, on the holdout. */
  costRatio: number
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

/** A production answer may be shown as a demonstration only when its DQ is at least this. */
export const DEMO_MIN_DQ = 0.8

const candidateId = (campaignId: string, versionId: string) => `cand_${campaignId}_${versionId.slice(3)}`

export function createCampaignActivities(deps: ActivityDeps) {
  const { db } = deps
  const evaluator = new Evaluator(deps)

  const rolloutsUsed = (campaignId: string) => deps.models.rollouts(campaignId)

  /** USD to keep for the holdout gate: both arms on every holdout item, at the mean cost per call so far. */
  async function holdoutReserve(campaignId: string, datasetId: string): Promise<number> {
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

  async function loadItems(datasetId: string, split: Split): Promise<EvalItem[]> {
    const rows = await db
      .select({
        id: traffic.id,
        input: traffic.input,
        reference: traffic.reference,
        simExampleKey: traffic.simExampleKey,
      })
      .from(datasetItems)
      .innerJoin(traffic, eq(traffic.id, datasetItems.trafficId))
      .where(and(eq(datasetItems.datasetId, datasetId), eq(datasetItems.split, split)))
      .orderBy(asc(datasetItems.position))
    return rows
  }

  /**
   * Few-shot sources: production answers of the training split whose DQ (under the campaign's
   * grader version) is at least DEMO_MIN_DQ. Ungraded records are graded first (stored, once).
   */
  async function demonstrationsOf(
    datasetId: string,
    graderVersionId: string,
    spec: StoredSpec,
  ): Promise<DemonstrationSource[]> {
    const read = () =>
      db
        .select({ t: traffic, score: scores.score })
        .from(datasetItems)
        .innerJoin(traffic, eq(traffic.id, datasetItems.trafficId))
        .leftJoin(
          scores,
          and(
            eq(scores.subjectType, 'traffic'),
            eq(scores.subjectId, traffic.id),
            eq(scores.graderVersionId, graderVersionId),
          ),
        )
        .where(
          and(
            eq(datasetItems.datasetId, datasetId),
            eq(datasetItems.split, 'train'),
            isNotNull(traffic.output),
            isNull(traffic.error),
          ),
        )
        .orderBy(asc(datasetItems.position))
    let rows = await read()
    const ungraded = rows.filter((r) => r.score === null).map((r) => r.t)
    if (ungraded.length > 0) {
      await gradeTraffic(deps, ungraded, spec, graderVersionId, { signal: cancellationSignal() })
      rows = await read()
    }
    return rows.flatMap(({ t, score }) =>
      score !== null && score >= DEMO_MIN_DQ && t.output
        ? [{ itemId: t.id, demonstration: { input: t.input, output: t.output }, score }]
        : [],
    )
  }

  async function campaignRow(campaignId: string) {
    const row = await db.query.campaigns.findFirst({ where: eq(campaigns.id, campaignId) })
    if (!row) throw new KaizenError('NOT_FOUND', `unknown campaign "${campaignId}"`)
    return row
  }

  const progress = (stage: string) => (done: number, total: number) => heartbeat({ stage, done, total })

  return {
    /** Record the campaign, pin the baseline (current production version) and the grader version. */
    async beginCampaign(input: BeginCampaignInput): Promise<BeginCampaignResult> {
      const task = await requireTask(db, input.taskId)
      const labels = await getLabels(db, input.taskId)
      if (!labels.production)
        throw new KaizenError('CONFLICT', `task "${input.taskId}" has no production prompt version to improve`)
      const existing = await db.query.campaigns.findFirst({ where: eq(campaigns.id, input.campaignId) })
      if (existing && existing.status !== 'running') {
        throw new KaizenError(
          'CONFLICT',
          `campaign id "${input.campaignId}" was already used (that campaign ${existing.status}); campaign ids are single-use, start it under a new id`,
        )
      }
      const baselineVersionId = existing?.baselineVersionId ?? labels.production.promptVersionId
      const graderVersionId = existing?.graderVersionId ?? (await currentGraderVersionId(db, deps.scenarios, task))
      await db
        .insert(campaigns)
        .values({
          id: input.campaignId,
          taskId: input.taskId,
          trigger: input.trigger,
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
        details: { baselineVersionId, baselineVersion: baseline.version, graderVersionId },
      })
      return { baselineVersionId, baselineVersion: baseline.version, graderVersionId, scenarioId: task.scenarioId }
    },

    /** Freeze a sample of recent traffic with known outcomes and split it by hash. */
    async snapshotDataset(input: {
      campaignId: string
      taskId: string
      seed: string
      config: CampaignConfig
    }): Promise<SnapshotResult> {
      const datasetId = `ds_${input.campaignId}`
      const existing = await db.query.datasets.findFirst({ where: eq(datasets.id, datasetId) })
      if (existing) return { datasetId, counts: existing.counts }
      const { size, windowHours, minItems } = input.config.sample
      // The sample is the traffic as of the campaign's start: traffic arriving while the campaign
      // runs never changes what a (retried or replayed) snapshot contains.
      const campaign = await campaignRow(input.campaignId)
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
          `task "${input.taskId}" has ${rows.length} usable traffic records (with a known outcome, no error) in the ${windowHours} h before the campaign started; ` +
            `the campaign needs at least ${minItems}. Send more traffic, or lower sample.minItems / raise sample.windowHours.`,
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
    },

    /** Score the baseline on train and validation; it becomes the seed candidate. */
    async evaluateBaseline(input: {
      campaignId: string
      datasetId: string
      baselineVersionId: string
      graderVersionId: string
      scenarioId: string | null
      budgetUsd?: number | null
      fanOut?: FanOutSettings
    }): Promise<BaselineResult | NeedsEvaluations> {
      const spec = await getGraderSpec(db, input.graderVersionId)
      const version = await getPromptVersion(db, input.baselineVersionId)
      const common = {
        campaignId: input.campaignId,
        scenarioId: input.scenarioId,
        content: contentOf(version),
        graderVersionId: input.graderVersionId,
        spec,
        signal: cancellationSignal(),
        budgetUsd: input.budgetUsd ?? null,
      }
      const trainItems = await loadItems(input.datasetId, 'train')
      const validationItems = await loadItems(input.datasetId, 'validation')
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
        rolloutsUsed: await rolloutsUsed(input.campaignId),
      }
    },

    /** One round of search. Re-running a round (after a crash) redoes the same draws for free. */
    async searchRound(input: SearchRoundInput): Promise<SearchRoundResult | NeedsEvaluations> {
      const campaign = await campaignRow(input.campaignId)
      const spec = await getGraderSpec(db, input.graderVersionId)
      // Simulated tasks use the simulated proposer unless an LLM proposer is configured; real tasks need one.
      const world = input.scenarioId ? (deps.providers.simulation?.world(input.scenarioId) ?? null) : null
      if (input.scenarioId && !world && !input.proposerModel)
        throw new KaizenError('CONFIG_ERROR', 'the simulation provider is not configured in this worker')
      const train = await loadItems(input.datasetId, 'train')
      const validation = await loadItems(input.datasetId, 'validation')
      const byId = new Map([...train, ...validation].map((i) => [i.id, i]))
      const itemsOf = (ids: readonly string[]) => ids.map((id) => byId.get(id) as EvalItem)

      // The pool as it stood when this round began: a retried round sees exactly what the first attempt saw.
      const rows = await db
        .select({ c: candidates, v: promptVersions })
        .from(candidates)
        .innerJoin(promptVersions, eq(promptVersions.id, candidates.promptVersionId))
        .where(and(eq(candidates.campaignId, input.campaignId), lt(candidates.round, input.round)))
        .orderBy(asc(candidates.round), asc(candidates.createdAt), asc(candidates.id))
      const pool: Candidate[] = rows.map(({ c, v }) => ({
        id: c.id,
        content: contentOf(v),
        parentIds: c.parentCandidateIds,
        operator: c.operator,
        status: c.status,
        validationMean: c.validationMean,
      }))
      // When this round first started (kept across retries, by the database's clock, the clock of the grades it is compared with).
      await db.insert(searchRounds).values({ campaignId: input.campaignId, round: input.round }).onConflictDoNothing()
      const [{ startedAt: roundStartedAt }] = (await db
        .select({ startedAt: searchRounds.startedAt })
        .from(searchRounds)
        .where(and(eq(searchRounds.campaignId, input.campaignId), eq(searchRounds.round, input.round)))) as [
        { startedAt: Date },
      ]
      const created = new Map<string, string>() // candidate id → prompt version id, for this round
      const rng = Rng.fromSeed(input.seed, 'search-round', input.round)
      const signal = cancellationSignal()
      // The search may spend the budget minus what the holdout gate will need.
      const reserveUsd = input.budgetUsd ? await holdoutReserve(input.campaignId, input.datasetId) : 0
      const searchBudget = input.budgetUsd ? Math.max(0, input.budgetUsd - reserveUsd) : null
      const maxSentences = input.maxSentences ?? world?.scenario.task.maxClauses ?? 12
      const maxPromptTokens = input.maxPromptTokens ?? world?.scenario.task.maxPromptTokens ?? 800
      const simProposer = world && !input.proposerModel ? new SimulationProposer(world) : null
      const llmProposer = simProposer
        ? null
        : new LlmProposer(
            deps.models,
            { model: input.proposerModel ?? (pool[0] as Candidate).content.model, maxSentences, maxPromptTokens },
            { campaignId: input.campaignId, budgetUsd: searchBudget, signal },
            deps.redactor,
          )
      const failuresOf = (fs: readonly ItemScore[]) =>
        fs.map((f) => ({ input: byId.get(f.itemId)?.input ?? {}, score: f.score, feedback: f.feedback }))
      // Generalisation guards on every proposal: no copying of training inputs, a token cap.
      const seedSystem = (pool.find((c) => c.status === 'seed') ?? (pool[0] as Candidate)).content.system
      const trainingText = train.map((i) => Object.values(i.input).join(' '))
      const admits = (content: PromptContent): boolean => {
        const demoText = (content.examples ?? [])
          .map((d) => `${Object.values(d.input).join(' ')} ${d.output}`)
          .join(' ')
        if (approxTokens(demoText ? `${content.system} ${demoText}` : content.system) > maxPromptTokens) return false
        return !copiesTraining(content.system, seedSystem, trainingText)
      }
      const guarded = (p: Proposal | null): Proposal | null => (p && admits(p.content) ? p : null)
      let demos: Promise<DemonstrationSource[]> | undefined
      // Fan-out mode: large evaluations are deferred to chunk activities; once one is, the round's
      // other steps stop (they are redone, for free, by the next call, which finds the answers cached).
      const planner = input.fanOut ? new EvaluationPlanner(deps, input.fanOut, input.budgetExhausted ?? null) : null
      const inflight = new InFlight()
      const live = <T>(fn: () => Promise<T>): Promise<T> =>
        inflight.run(async () => {
          if (planner?.deferred) throw new Deferred()
          return fn()
        })
      let evaluated = 0
      const beat = (done: number) => heartbeat({ stage: 'search', round: input.round, evaluated: evaluated + done })
      let budgetStop: SearchRoundResult['budgetStop']
      let outcome: RoundOutcome = { proposals: 0, accepted: 0, exhausted: false, saturated: false }
      const settings: StrategySettings = {
        ...DEFAULT_STRATEGY_SETTINGS,
        proposals: input.proposals,
        minibatchSize: input.minibatchSize,
        ...(input.beamWidth ? { beamWidth: input.beamWidth } : {}),
        ...(input.population ? { population: input.population } : {}),
        ...(input.mergeEvery !== undefined ? { mergeEvery: input.mergeEvery } : {}),
        pooled: input.pooled === true,
      }
      const round = input.strategy
        ? STRATEGIES[input.strategy]
        : (p: Candidate[], st: StrategySettings, ports: SearchPorts) => reflectiveRound(p, st, ports)
      let failure: unknown = null
      try {
        outcome = await runRound(round, pool, settings, {
          rng,
          trainIds: train.map((i) => i.id),
          validationIds: validation.map((i) => i.id),
          evaluate: (content, ids) =>
            inflight.run(async () => {
              if (planner && (await planner.defer({ content, scenarioId: input.scenarioId }, itemsOf(ids))))
                throw new Deferred()
              // Heartbeat during long evaluations too, so a slow provider is not mistaken for a dead worker.
              const out = await evaluator.evaluate({
                campaignId: input.campaignId,
                scenarioId: input.scenarioId,
                content,
                items: itemsOf(ids),
                graderVersionId: input.graderVersionId,
                spec,
                signal,
                onProgress: beat,
                budgetUsd: searchBudget,
              })
              evaluated += ids.length
              beat(0)
              return out
            }),
          propose: (parent, failures, stream = rng) =>
            live(async () =>
              guarded(
                simProposer
                  ? simProposer.propose(parent, failures, stream)
                  : await (llmProposer as LlmProposer).reflect(parent, failuresOf(failures), stream),
              ),
            ),
          mutate: (parent, stream = rng) =>
            live(async () =>
              guarded(
                simProposer
                  ? simProposer.mutate(parent, stream)
                  : await (llmProposer as LlmProposer).mutate(parent, stream),
              ),
            ),
          maxSentences,
          rolloutsRemaining: async () => input.rolloutBudget - (await rolloutsUsed(input.campaignId)),
          uncachedCount: (content, ids) =>
            evaluator.uncachedCount({ content, scenarioId: input.scenarioId }, itemsOf(ids)),
          admits,
          demonstrations: () => live(() => (demos ??= demonstrationsOf(input.datasetId, input.graderVersionId, spec))),
          knownScores: (content, ids, o) =>
            evaluator.knownScores(
              { content, scenarioId: input.scenarioId, graderVersionId: input.graderVersionId },
              itemsOf(ids),
              o?.asOfRoundStart ? roundStartedAt : undefined,
            ),
          save: (c: NewCandidate) =>
            live(async () => {
              const parentVersionId = c.parentIds.map((id) => rows.find((r) => r.c.id === id)?.v.id ?? created.get(id))
              const version = await createPromptVersion(db, {
                taskId: campaign.taskId,
                content: c.content,
                parentIds: parentVersionId.filter((v): v is string => v !== undefined),
                origin: 'campaign',
                campaignId: input.campaignId,
                operator: c.operator,
                createdBy: `campaign:${input.campaignId}`,
              })
              const id = candidateId(input.campaignId, version.id)
              const earlier = pool.find((p) => p.id === id)
              if (earlier) return { candidate: earlier, created: false }
              // Inserted now, or by an earlier attempt of this same round (then identical: same draws).
              await db
                .insert(candidates)
                .values({
                  id,
                  campaignId: input.campaignId,
                  promptVersionId: version.id,
                  parentCandidateIds: c.parentIds,
                  operator: c.operator,
                  round: input.round,
                  feedback: c.feedbackUsed,
                  status: c.status,
                  minibatch: c.minibatch,
                  validationMean: c.validationMean,
                })
                .onConflictDoNothing()
              created.set(id, version.id)
              return {
                candidate: {
                  id,
                  content: c.content,
                  parentIds: c.parentIds,
                  operator: c.operator,
                  status: c.status,
                  validationMean: c.validationMean,
                },
                created: true,
              }
            }),
        })
      } catch (err) {
        failure = err
      }
      if (planner) {
        // Whatever else happened, a round with deferred evaluations answers with them.
        await inflight.idle()
        if (planner.deferred) return planner.needs()
      }
      if (failure !== null) {
        const err = failure
        if (!isKaizenError(err) || err.code !== 'BUDGET_EXHAUSTED' || !input.budgetUsd) throw err
        // Graceful stop: the candidates scored so far stand; the unfinished one is dropped.
        const spentUsd = await deps.models.spent(input.campaignId)
        budgetStop = { spentUsd, budgetUsd: input.budgetUsd, reserveUsd, reason: err.message }
        outcome = { proposals: 0, accepted: 0, exhausted: true, saturated: false }
        const saved = await db
          .select({ c: candidates, v: promptVersions })
          .from(candidates)
          .innerJoin(promptVersions, eq(promptVersions.id, candidates.promptVersionId))
          .where(eq(candidates.campaignId, input.campaignId))
        for (const { c, v } of saved) {
          if (!pool.some((p) => p.id === c.id)) {
            pool.push({
              id: c.id,
              content: contentOf(v),
              parentIds: c.parentCandidateIds,
              operator: c.operator,
              status: c.status,
              validationMean: c.validationMean,
            })
            if (!rows.some((r) => r.c.id === c.id)) created.set(c.id, v.id)
          }
        }
        await appendAudit(db, {
          eventKey: `campaign:${input.campaignId}:budget-exhausted`,
          actor: 'kaizen',
          action: 'campaign.budget-exhausted',
          taskId: campaign.taskId,
          subjectType: 'campaign',
          subjectId: input.campaignId,
          details: {
            round: input.round,
            spentUsd,
            budgetUsd: input.budgetUsd,
            holdoutReserveUsd: reserveUsd,
            detail: err.message,
          },
        })
      }
      const best = incumbent(pool)
      if (!best) throw new KaizenError('INTERNAL', `campaign ${input.campaignId} has no scored candidate`)
      const bestVersionId = rows.find((r) => r.c.id === best.id)?.v.id ?? created.get(best.id)
      return {
        round: input.round,
        proposals: outcome.proposals,
        accepted: outcome.accepted,
        exhausted: outcome.exhausted,
        saturated: outcome.saturated,
        best: {
          candidateId: best.id,
          versionId: bestVersionId as string,
          validationMean: best.validationMean as number,
          ...(typeof best.estimate === 'number' ? { estimate: best.estimate } : {}),
        },
        rolloutsUsed: await rolloutsUsed(input.campaignId),
        spentUsd: await deps.models.spent(input.campaignId),
        ...(budgetStop ? { budgetStop } : {}),
      }
    },

    /** The holdout gate: the finalist against the baseline on items neither was selected on. */
    async compareOnHoldout(input: {
      campaignId: string
      datasetId: string
      baselineVersionId: string
      winnerVersionId: string
      graderVersionId: string
      scenarioId: string | null
      alpha: number
      minEffect: number
      goldenTolerance?: number
      seed: string
      budgetUsd?: number | null
      fanOut?: FanOutSettings
    }): Promise<HoldoutComparison | NeedsEvaluations> {
      const spec = await getGraderSpec(db, input.graderVersionId)
      const items = await loadItems(input.datasetId, 'holdout')
      const campaign = await campaignRow(input.campaignId)
      const golden = await db
        .select({
          id: traffic.id,
          input: traffic.input,
          reference: traffic.reference,
          simExampleKey: traffic.simExampleKey,
        })
        .from(goldenCases)
        .innerJoin(traffic, eq(traffic.id, goldenCases.trafficId))
        .where(eq(goldenCases.taskId, campaign.taskId))
        .orderBy(asc(goldenCases.trafficId))
      const run = async (versionId: string, on = items) =>
        evaluator.evaluate({
          campaignId: input.campaignId,
          scenarioId: input.scenarioId,
          content: contentOf(await getPromptVersion(db, versionId)),
          items: on,
          graderVersionId: input.graderVersionId,
          spec,
          signal: cancellationSignal(),
          onProgress: progress(on === items ? 'holdout' : 'golden'),
          budgetUsd: input.budgetUsd ?? null,
        })
      if (input.fanOut) {
        const planner = new EvaluationPlanner(deps, input.fanOut)
        for (const versionId of [input.baselineVersionId, input.winnerVersionId]) {
          const content = contentOf(await getPromptVersion(db, versionId))
          await planner.defer({ content, scenarioId: input.scenarioId }, [...items, ...golden])
        }
        if (planner.deferred) return planner.needs()
      }
      const base = await run(input.baselineVersionId)
      const win = await run(input.winnerVersionId)
      const goldenBase = golden.length > 0 ? await run(input.baselineVersionId, golden) : []
      const goldenWin = golden.length > 0 ? await run(input.winnerVersionId, golden) : []
      const goldenCmp =
        golden.length > 0
          ? compareGolden(
              golden.map((g, i) => ({
                itemId: g.id,
                baselinePass: goldenBase[i]?.pass ?? null,
                winnerPass: goldenWin[i]?.pass ?? null,
              })),
            )
          : null
      const safety = compareSafety(
        [...base, ...goldenBase].map((o) => o.safety),
        [...win, ...goldenWin].map((o) => o.safety),
      )
      const { failures: regressions } = nonRegression({
        golden: goldenCmp,
        safety,
        goldenTolerance: input.goldenTolerance ?? 0,
      })
      const pairs = base
        .map((b, i) => [b.score, win[i]?.score ?? null] as const)
        .filter((p): p is readonly [number, number] => p[0] !== null && p[1] !== null)
      const test = pairedTest(
        pairs.map((p) => p[0]),
        pairs.map((p) => p[1]),
        { alpha: input.alpha, minEffect: input.minEffect, seed: `${input.seed}:holdout` },
      )
      for (const [versionId, mean] of [
        [input.baselineVersionId, test.meanBaseline],
        [input.winnerVersionId, test.meanCandidate],
      ] as const) {
        await db
          .update(candidates)
          .set({ holdoutMean: mean })
          .where(and(eq(candidates.campaignId, input.campaignId), eq(candidates.promptVersionId, versionId)))
      }
      const meanCost = (xs: typeof base) => xs.reduce((a, x) => a + x.costUsd, 0) / Math.max(1, xs.length)
      const costRatio = meanCost(base) > 0 ? meanCost(win) / meanCost(base) : 1
      return {
        ...test,
        baselineHoldoutDQ: test.meanBaseline,
        winnerHoldoutDQ: test.meanCandidate,
        costRatio,
        golden: goldenCmp,
        safety,
        regressions,
        rolloutsUsed: await rolloutsUsed(input.campaignId),
      }
    },

    /** The newest canary still holding the task's canary label, if any. */
    async findActiveCanary(input: { taskId: string }): Promise<{ canaryId: string; versionId: string } | null> {
      const labels = await getLabels(db, input.taskId)
      return labels.canary?.canaryId
        ? { canaryId: labels.canary.canaryId, versionId: labels.canary.promptVersionId }
        : null
    },

    async finishCampaign(input: FinishCampaignInput): Promise<void> {
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
    },
  }
}

export type CampaignActivities = ReturnType<typeof createCampaignActivities>
