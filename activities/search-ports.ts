/**
 * @module activities/search-ports
 * The search ports (core/search/types.ts) of one campaign round, backed by Postgres: the
 * counterpart of sim/memory-ports.ts, which backs them by memory for the benchmark and the tests.
 *
 * - evaluations go through the evaluator (evaluation cache, spend ledger, stored grades), or in
 *   fan-out mode are deferred to chunk activities (./evaluation.ts): once one is, the round's
 *   other steps stop (the next call redoes them for free, finding the answers cached);
 * - proposals come from the LLM proposer, or the simulated one for a simulated task without a
 *   proposer model, and must pass the generalisation guards (token cap, no copied training text);
 * - candidates are stored as prompt versions and campaign candidates, keyed, so a retried round
 *   stores nothing twice;
 * - demonstrations are the training split's production answers with a high DQ.
 */
import { cancellationSignal, heartbeat } from '@temporalio/activity'
import { and, asc, eq, isNotNull, isNull } from 'drizzle-orm'
import type { NeedsEvaluations } from '../core/fanout.js'
import type { StoredSpec } from '../core/grader-spec.js'
import type { PromptContent } from '../core/prompt.js'
import { Rng } from '../core/rng.js'
import { copiesTraining } from '../core/search/edits.js'
import type {
  Candidate,
  DemonstrationSource,
  NewCandidate,
  Proposal,
  Proposer,
  SearchPorts,
} from '../core/search/types.js'
import type { Db } from '../db/client.js'
import { createPromptVersion } from '../db/queries/prompts.js'
import { trafficScoreOn } from '../db/queries/scores.js'
import { candidates, datasetItems, scores, traffic } from '../db/schema.js'
import { Evaluator, type EvalItem } from '../evaluation/evaluator.js'
import { gradeTraffic } from '../evaluation/grade-traffic.js'
import { LlmProposer } from '../proposers/llm.js'
import { approxTokens } from '../core/prompt.js'
import type { SimulatedSearch } from '../providers/simulation.js'
import { candidateId } from './campaign-data.js'
import type { ActivityDeps } from './deps.js'
import { Deferred, EvaluationPlanner, InFlight } from './evaluation.js'
import type { SearchRoundRequest } from './search-round-input.js'

/** A production answer may be shown as a demonstration only when its DQ is at least this. */
export const DEMO_MIN_DQ = 0.8

/** Caps on a candidate's instructions when neither the config nor a simulated task sets them. */
const DEFAULT_MAX_SENTENCES = 12
const DEFAULT_MAX_PROMPT_TOKENS = 800

export interface CampaignPortsOptions {
  request: SearchRoundRequest
  taskId: string
  spec: StoredSpec
  /** A simulated task's reflection model and prompt limits (providers/simulation); null: a real task. */
  simulated: SimulatedSearch | null
  train: readonly EvalItem[]
  validation: readonly EvalItem[]
  /** The pool as the round began; strategies add to it. */
  pool: Candidate[]
  /** Candidate id → prompt version id, for the pool; the ports add the candidates they store. */
  versions: Map<string, string>
  /** When the round first started (kept across retries). */
  roundStartedAt: Date
  /** USD the search may spend (the budget less the holdout reserve); null: no limit. */
  searchBudget: number | null
}

export interface CampaignPorts extends SearchPorts {
  /** After the round: waits for the calls in flight, then answers with the deferred evaluations, if any. */
  deferred(): Promise<NeedsEvaluations | null>
}

/**
 * Few-shot sources: production answers of the training split whose DQ (under the campaign's
 * grader version) is at least DEMO_MIN_DQ. Ungraded records are graded first (stored, once).
 */
export async function demonstrationsOf(
  deps: ActivityDeps,
  datasetId: string,
  graderVersionId: string,
  spec: StoredSpec,
): Promise<DemonstrationSource[]> {
  const read = () =>
    deps.db
      .select({ t: traffic, score: scores.score })
      .from(datasetItems)
      .innerJoin(traffic, eq(traffic.id, datasetItems.trafficId))
      .leftJoin(scores, trafficScoreOn(graderVersionId))
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

/** Generalisation guards on every proposal: a token cap, and no copying of training inputs. */
function generalisationGuard(o: CampaignPortsOptions, maxPromptTokens: number): (content: PromptContent) => boolean {
  const seedSystem = (o.pool.find((c) => c.status === 'seed') ?? (o.pool[0] as Candidate)).content.system
  const trainingText = o.train.map((i) => Object.values(i.input).join(' '))
  return (content) => {
    const demoText = (content.examples ?? []).map((d) => `${Object.values(d.input).join(' ')} ${d.output}`).join(' ')
    if (approxTokens(demoText ? `${content.system} ${demoText}` : content.system) > maxPromptTokens) return false
    return !copiesTraining(content.system, seedSystem, trainingText)
  }
}

/** Store a candidate (prompt version and campaign candidate); the same content twice gives the stored one. */
async function saveCandidate(db: Db, o: CampaignPortsOptions, c: NewCandidate) {
  const { campaignId, round } = o.request
  const version = await createPromptVersion(db, {
    taskId: o.taskId,
    content: c.content,
    parentIds: c.parentIds.map((id) => o.versions.get(id)).filter((v): v is string => v !== undefined),
    origin: 'campaign',
    campaignId,
    operator: c.operator,
    createdBy: `campaign:${campaignId}`,
  })
  const id = candidateId(campaignId, version.id)
  const earlier = o.pool.find((p) => p.id === id)
  if (earlier) return { candidate: earlier, created: false }
  // Inserted now, or by an earlier attempt of this same round (then identical: same draws).
  await db
    .insert(candidates)
    .values({
      id,
      campaignId,
      promptVersionId: version.id,
      parentCandidateIds: c.parentIds,
      operator: c.operator,
      round,
      feedback: c.feedbackUsed,
      status: c.status,
      minibatch: c.minibatch,
      validationMean: c.validationMean,
    })
    .onConflictDoNothing()
  o.versions.set(id, version.id)
  const candidate: Candidate = {
    id,
    content: c.content,
    parentIds: c.parentIds,
    operator: c.operator,
    status: c.status,
    validationMean: c.validationMean,
  }
  return { candidate, created: true }
}

export function campaignPorts(deps: ActivityDeps, evaluator: Evaluator, o: CampaignPortsOptions): CampaignPorts {
  const { request, simulated } = o
  const { campaignId, graderVersionId } = request
  const byId = new Map([...o.train, ...o.validation].map((i) => [i.id, i]))
  const itemsOf = (ids: readonly string[]) => ids.map((id) => byId.get(id) as EvalItem)
  const rng = Rng.fromSeed(request.seed, 'search-round', request.round)
  const signal = cancellationSignal()
  const maxSentences = request.maxSentences ?? simulated?.maxSentences ?? DEFAULT_MAX_SENTENCES
  const maxPromptTokens = request.maxPromptTokens ?? simulated?.maxPromptTokens ?? DEFAULT_MAX_PROMPT_TOKENS
  const proposer: Proposer =
    simulated && !request.proposerModel
      ? simulated.proposer
      : new LlmProposer(
          deps.models,
          { model: request.proposerModel ?? (o.pool[0] as Candidate).content.model, maxSentences, maxPromptTokens },
          { campaignId, budgetUsd: o.searchBudget, signal },
          deps.redactor,
          (itemId) => byId.get(itemId)?.input,
        )
  const admits = generalisationGuard(o, maxPromptTokens)
  // A simulated proposer answers at once: its answer is not awaited (no extra microtask).
  const guarded = async (p: Proposal | null | Promise<Proposal | null>): Promise<Proposal | null> => {
    const proposal = p instanceof Promise ? await p : p
    return proposal && admits(proposal.content) ? proposal : null
  }
  const planner = request.fanOut ? new EvaluationPlanner(deps, request.fanOut, request.budgetExhausted) : null
  const inflight = new InFlight()
  const live = <T>(fn: () => Promise<T>): Promise<T> =>
    inflight.run(async () => {
      if (planner?.deferred) throw new Deferred()
      return fn()
    })
  let evaluated = 0
  const beat = (done: number) => heartbeat({ stage: 'search', round: request.round, evaluated: evaluated + done })
  let demos: Promise<DemonstrationSource[]> | undefined
  return {
    rng,
    trainIds: o.train.map((i) => i.id),
    validationIds: o.validation.map((i) => i.id),
    maxSentences,
    evaluate: (content, ids) =>
      inflight.run(async () => {
        if (planner && (await planner.defer({ content }, itemsOf(ids)))) throw new Deferred()
        // Heartbeat during long evaluations too, so a slow provider is not mistaken for a dead worker.
        const out = await evaluator.evaluate({
          campaignId,
          content,
          items: itemsOf(ids),
          graderVersionId,
          spec: o.spec,
          signal,
          onProgress: beat,
          budgetUsd: o.searchBudget,
        })
        evaluated += ids.length
        beat(0)
        return out
      }),
    propose: (parent, failures, stream = rng) => live(() => guarded(proposer.propose(parent, failures, stream))),
    mutate: (parent, stream = rng) => live(() => guarded(proposer.mutate(parent, stream))),
    groupInstructions: (found, model) =>
      live(async () => (proposer.group ? proposer.group(found, model) : { instructions: [], fixed: [] })),
    rolloutsRemaining: async () => request.rolloutBudget - (await deps.models.rollouts(campaignId)),
    uncachedCount: (content, ids) => evaluator.uncachedCount({ content }, itemsOf(ids)),
    admits,
    demonstrations: () => live(() => (demos ??= demonstrationsOf(deps, request.datasetId, graderVersionId, o.spec))),
    knownScores: (content, ids, options) =>
      evaluator.knownScores(
        { content, graderVersionId },
        itemsOf(ids),
        options?.asOfRoundStart ? o.roundStartedAt : undefined,
      ),
    save: (c) => live(() => saveCandidate(deps.db, o, c)),
    async deferred() {
      if (!planner) return null
      // Whatever else happened, a round with deferred evaluations answers with them.
      await inflight.idle()
      return planner.deferred ? planner.needs() : null
    },
  }
}
