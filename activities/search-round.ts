/**
 * @module activities/search-round
 * The `searchRound` activity: one round of the campaign's search strategy (core/search) over the
 * candidate pool, through the Postgres-backed ports (./search-ports.ts). Re-running a round (after
 * a crash) sees the pool as the first attempt did and redoes the same draws for free.
 */
import { and, asc, eq, lt, sql } from 'drizzle-orm'
import type { NeedsEvaluations } from '../core/fanout.js'
import { KaizenError, isKaizenError } from '../core/errors.js'
import { leadersOf, modelRound, unchangedOn, type ModelChoice } from '../core/search/models.js'
import { runRound, strategyRound } from '../core/search/strategies.js'
import { incumbent, type Candidate, type RoundOutcome } from '../core/search/types.js'
import type { Db } from '../db/client.js'
import { appendAudit } from '../db/queries/audit.js'
import { getGraderSpec } from '../db/queries/graders.js'
import { contentOf } from '../db/queries/prompts.js'
import { candidates, evaluations, promptVersions, searchRounds } from '../db/schema.js'
import { Evaluator } from '../evaluation/evaluator.js'
import { campaignRow, holdoutReserve, loadItems } from './campaign-data.js'
import type { ActivityDeps } from './deps.js'
import { campaignPorts } from './search-ports.js'
import {
  parseSearchRoundInput,
  type LegacySearchRoundInput,
  type SearchRoundInput,
  type SearchRoundRequest,
} from './search-round-input.js'

export type { LegacySearchRoundInput, SearchRoundInput } from './search-round-input.js'

export interface SearchRoundResult {
  round: number
  proposals: number
  accepted: number
  exhausted: boolean
  saturated: boolean
  /**
   * validationMean: its own mean over the validation split; estimate: the pooled estimate it was
   * ranked by (when pooling).
   */
  best: { candidateId: string; versionId: string; validationMean: number; estimate?: number }
  rolloutsUsed: number
  /** Set when the USD budget stopped the search. */
  budgetStop?: { spentUsd: number; budgetUsd: number; reserveUsd: number; reason: string }
  spentUsd?: number
  /** A search over models: the best candidate on each model tried so far (docs/model-agility.md). */
  finalists?: Finalist[]
}

export interface Finalist {
  model: string
  candidateId: string
  versionId: string
  validationMean: number
  estimate?: number
}

/** The finalists the holdout compares: each model's best-ranked candidates (`search.finalistsPerModel`). */
function finalistsOf(
  pool: readonly Candidate[],
  versions: Map<string, string>,
  agility: { models: readonly string[]; finalistsPerModel: number },
): Finalist[] {
  return leadersOf(pool, agility.models, agility.finalistsPerModel).map((c) => ({
    model: c.content.model,
    candidateId: c.id,
    versionId: versions.get(c.id) as string,
    validationMean: c.validationMean as number,
    ...(typeof c.estimate === 'number' ? { estimate: c.estimate } : {}),
  }))
}

/**
 * What each candidate model would cost per 1,000 requests of this task: its price (the price
 * table, or a simulated tier's) on the token counts of the production prompt's own evaluations in
 * this campaign (scored before the search, so every round sees the same figures).
 */
async function modelChoices(
  deps: ActivityDeps,
  campaignId: string,
  pool: readonly Candidate[],
  models: readonly string[],
): Promise<ModelChoice[]> {
  const production = pool.find((c) => c.status === 'seed')
  if (!production) throw new KaizenError('INTERNAL', `campaign ${campaignId} has no production candidate`)
  const [row] = await deps.db
    .select({
      input: sql<string>`coalesce(avg(${evaluations.inputTokens}), 0)`,
      output: sql<string>`coalesce(avg(${evaluations.outputTokens}), 0)`,
    })
    .from(evaluations)
    .where(
      and(
        eq(evaluations.campaignId, campaignId),
        eq(evaluations.purpose, 'task'),
        eq(evaluations.model, production.content.model),
      ),
    )
  const tokens = { inputTokens: Number(row?.input ?? 0), outputTokens: Number(row?.output ?? 0) }
  return [...new Set(models)].map((model) => {
    const price = deps.providers.price(model)
    if (!price)
      throw new KaizenError(
        'CONFIG_ERROR',
        `search.models: no price for model "${model}"; add it to the price table (KAIZEN_PRICES_FILE, ` +
          'docs/model-agility.md) so the search can compare costs',
      )
    return {
      model,
      costPer1k: (1000 * (tokens.inputTokens * price.inputPerMTok + tokens.outputTokens * price.outputPerMTok)) / 1e6,
    }
  })
}

type BudgetStop = NonNullable<SearchRoundResult['budgetStop']>

/** A candidate as the search sees it, from its row and its prompt version's row. */
const candidateOf = ({ c, v }: { c: typeof candidates.$inferSelect; v: typeof promptVersions.$inferSelect }) => ({
  id: c.id,
  content: contentOf(v),
  parentIds: c.parentCandidateIds,
  operator: c.operator,
  status: c.status,
  validationMean: c.validationMean,
})

/** The campaign's candidates (with their prompt versions); `beforeRound`: only those of earlier rounds. */
function candidateRows(db: Db, campaignId: string, beforeRound?: number) {
  return db
    .select({ c: candidates, v: promptVersions })
    .from(candidates)
    .innerJoin(promptVersions, eq(promptVersions.id, candidates.promptVersionId))
    .where(
      beforeRound === undefined
        ? eq(candidates.campaignId, campaignId)
        : and(eq(candidates.campaignId, campaignId), lt(candidates.round, beforeRound)),
    )
}

/**
 * The pool as it stood when the round began (a retried round sees exactly what the first attempt
 * saw), and the prompt version of each candidate in it.
 */
async function poolAtStart(db: Db, campaignId: string, round: number) {
  const rows = await candidateRows(db, campaignId, round).orderBy(
    asc(candidates.round),
    asc(candidates.createdAt),
    asc(candidates.id),
  )
  const pool: Candidate[] = rows.map(candidateOf)
  return { pool, versions: new Map(rows.map(({ c, v }) => [c.id, v.id])) }
}

/**
 * When the round first started: kept across retries, by the database's clock (the clock of the
 * grades it is compared with).
 */
async function roundStart(db: Db, campaignId: string, round: number): Promise<Date> {
  await db.insert(searchRounds).values({ campaignId, round }).onConflictDoNothing()
  const [{ startedAt }] = (await db
    .select({ startedAt: searchRounds.startedAt })
    .from(searchRounds)
    .where(and(eq(searchRounds.campaignId, campaignId), eq(searchRounds.round, round)))) as [{ startedAt: Date }]
  return startedAt
}

/**
 * The spend budget ran out in the round: the candidates scored so far stand (they join the pool),
 * the unfinished one is dropped, and the stop is audited.
 */
async function stopOnBudget(
  deps: ActivityDeps,
  request: SearchRoundRequest & { budgetUsd: number },
  state: { taskId: string; pool: Candidate[]; versions: Map<string, string>; reserveUsd: number },
  err: Error,
): Promise<BudgetStop> {
  const { campaignId, budgetUsd } = request
  const spentUsd = await deps.models.spent(campaignId)
  const budgetStop = { spentUsd, budgetUsd, reserveUsd: state.reserveUsd, reason: err.message }
  for (const row of await candidateRows(deps.db, campaignId)) {
    if (!state.pool.some((p) => p.id === row.c.id)) {
      state.pool.push(candidateOf(row))
      state.versions.set(row.c.id, row.v.id)
    }
  }
  await appendAudit(deps.db, {
    eventKey: `campaign:${campaignId}:budget-exhausted`,
    actor: 'kaizen',
    action: 'campaign.budget-exhausted',
    taskId: state.taskId,
    subjectType: 'campaign',
    subjectId: campaignId,
    details: { round: request.round, spentUsd, budgetUsd, holdoutReserveUsd: state.reserveUsd, detail: err.message },
  })
  return budgetStop
}

export function createSearchRoundActivities(deps: ActivityDeps) {
  const { db } = deps
  const evaluator = new Evaluator(deps)
  return {
    /** One round of search. Re-running a round (after a crash) redoes the same draws for free. */
    async searchRound(input: SearchRoundInput | LegacySearchRoundInput): Promise<SearchRoundResult | NeedsEvaluations> {
      const request = parseSearchRoundInput(input)
      const { campaignId, budgetUsd } = request
      const campaign = await campaignRow(db, campaignId)
      const spec = await getGraderSpec(db, request.graderVersionId)
      // Simulated tasks use the simulated proposer unless an LLM proposer is configured.
      const simulated = deps.providers.simulation?.searchFor(campaign.taskId) ?? null
      const train = await loadItems(db, request.datasetId, 'train')
      const validation = await loadItems(db, request.datasetId, 'validation')
      const { pool, versions } = await poolAtStart(db, campaignId, request.round)
      const roundStartedAt = await roundStart(db, campaignId, request.round)
      // The search may spend the budget minus what the holdout gate will need. The gate runs
      // production against the best (over models, each model's `finalistsPerModel` best, counted
      // in full even for a model not tried yet).
      const agility = request.agility
      const leaders = agility ? leadersOf(pool, agility.models, agility.finalistsPerModel) : [incumbent(pool)]
      const slots = agility ? agility.models.length * agility.finalistsPerModel : 1
      // A migration also measures its drop there: production's prompt unchanged on the target model.
      const objective = agility?.objective
      const unchanged = objective?.kind === 'migrate' ? unchangedOn(pool, objective.toModel) : undefined
      const extra = unchanged && !leaders.includes(unchanged) ? [unchanged] : []
      const arms = [pool.find((c) => c.status === 'seed'), ...leaders, ...extra]
      const gate = { arms: 1 + slots + extra.length, prompts: arms.flatMap((c) => (c ? [c.content] : [])) }
      const reserveUsd = budgetUsd ? await holdoutReserve(deps, campaignId, request.datasetId, gate) : 0
      const searchBudget = budgetUsd ? Math.max(0, budgetUsd - reserveUsd) : null
      const ports = campaignPorts(deps, evaluator, {
        request,
        taskId: campaign.taskId,
        spec,
        simulated,
        train,
        validation,
        pool,
        versions,
        roundStartedAt,
        searchBudget,
      })
      let outcome: RoundOutcome = { proposals: 0, accepted: 0, exhausted: false, saturated: false }
      let failure: unknown = null
      const round = request.agility
        ? modelRound(strategyRound(request.strategy), {
            objective: request.agility.objective,
            models: await modelChoices(deps, campaignId, pool, request.agility.models),
          })
        : strategyRound(request.strategy)
      try {
        outcome = await runRound(round, pool, request.settings, ports)
      } catch (err) {
        failure = err
      }
      const needs = await ports.deferred()
      if (needs) return needs
      let budgetStop: BudgetStop | undefined
      if (failure !== null) {
        if (!isKaizenError(failure) || failure.code !== 'BUDGET_EXHAUSTED' || !budgetUsd) throw failure
        const state = { taskId: campaign.taskId, pool, versions, reserveUsd }
        budgetStop = await stopOnBudget(deps, { ...request, budgetUsd }, state, failure)
        outcome = { proposals: 0, accepted: 0, exhausted: true, saturated: false }
      }
      const best = incumbent(pool)
      if (!best) throw new KaizenError('INTERNAL', `campaign ${campaignId} has no scored candidate`)
      return {
        round: request.round,
        proposals: outcome.proposals,
        accepted: outcome.accepted,
        exhausted: outcome.exhausted,
        saturated: outcome.saturated,
        best: {
          candidateId: best.id,
          versionId: versions.get(best.id) as string,
          validationMean: best.validationMean as number,
          ...(typeof best.estimate === 'number' ? { estimate: best.estimate } : {}),
        },
        rolloutsUsed: await deps.models.rollouts(campaignId),
        spentUsd: await deps.models.spent(campaignId),
        ...(budgetStop ? { budgetStop } : {}),
        ...(request.agility ? { finalists: finalistsOf(pool, versions, request.agility) } : {}),
      }
    },
  }
}
