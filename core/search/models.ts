/**
 * @module core/search/models
 * Searching (model, prompt) pairs. Candidates are prompt versions, and a prompt version carries its
 * model and parameters, so a search over several models is one pool in which every candidate's
 * lineage says which model it runs on. This round wraps any strategy:
 *
 * 1. **Switch model** (an operator): every candidate model not yet in the pool gets production's
 *    prompt on it (operator `switch-model`, parent production), fully validated. This measures the
 *    migration drop on validation and is the root of that model's lineage.
 * 2. **Choose a model**: first each model no round has worked on yet (only production's prompt, or
 *    a prompt moved from another model, on it), cheapest first; then by the objective,
 *    optimistically: each model's best rank score plus a bonus that shrinks with the candidates
 *    already tried on it (0.15 / √(1 + n/4)).
 *    - `cheapest`: among the models cheaper than production's, the cheapest whose optimistic score
 *      reaches production's − margin/2 (none: the most promising of them). Production's own model
 *      is searched only when no model is cheaper: rounds there cannot find a cheaper pair;
 *    - `best-quality`: the most promising model within the cost limit;
 *    - `migrate`: only the target model is searched.
 * 3. **Run the strategy's round on that model's candidates** (its sub-pool, root first). Proposals
 *    keep their parent's model; pooled estimates are per model × sentence (./pooled.ts), so the
 *    evidence of one model's prompts does not leak into another's.
 * 4. **Transplant**: when a model's best prompt is not yet tried on another model a round may
 *    work on (step 2's choices: for `cheapest`, not production's own model when a cheaper one is in
 *    play), it is tried there too (`switch-model`, parent that prompt), screened by full validation.
 *
 * Pure module: all I/O goes through the ports.
 */
import type { AgilityObjective } from '../agility.js'
import type { PromptContent } from '../prompt.js'
import { Exhausted, keep, ranked, validationMean } from './common.js'
import { rankScore, type Candidate, type RoundOutcome, type StrategyRound } from './types.js'

export interface ModelChoice {
  /** Model id, as a prompt version names it (e.g. `openai:gpt-4.1-mini`, `sim-small`). */
  model: string
  /** Estimated dollars per 1,000 requests for this task (from its prices and the task's token counts). */
  costPer1k: number
}

export interface ModelSearchOptions {
  models: readonly ModelChoice[]
  objective: AgilityObjective
  /** Optimism of the model choice (default 0.15 of the score scale). */
  optimism?: number
}

/** Content of a prompt moved to another model (parameters kept). */
export function onModel(content: PromptContent, model: string): PromptContent {
  return { ...content, model }
}

const byModel = (pool: readonly Candidate[], model: string) => pool.filter((c) => c.content.model === model)

/**
 * The finalists a search over models sends to the holdout: each model's `perModel` best-ranked
 * candidates (`search.finalistsPerModel`), in rank order (production's candidate stands for its model).
 */
export const leadersOf = (pool: readonly Candidate[], models: readonly string[], perModel = 1): Candidate[] =>
  models.flatMap((model) => ranked(byModel(pool, model)).slice(0, perModel))

/** A candidate no round on its model made: production, or a prompt moved there from another model. */
const isRoot = (c: Candidate) => c.status === 'seed' || c.operator === 'switch-model'

function best(cands: readonly Candidate[]): Candidate | null {
  return ranked(cands)[0] ?? null
}

/** The models a search works on: the migration's target only, else every candidate model. */
function modelsInPlay(options: ModelSearchOptions): ModelChoice[] {
  const { objective } = options
  if (objective.kind !== 'migrate') return [...options.models]
  const target = options.models.filter((m) => m.model === objective.toModel)
  if (target.length === 0)
    throw new Error(`the migration's target model ${objective.toModel} is not among the candidate models`)
  return target
}

/**
 * The models a round may work on: those within the cost limit (none: all in play); for `cheapest`,
 * only the models cheaper than production's when there are any (production's own model is where the
 * search stands already: rounds spent on it find no cheaper pair, as it always "reaches" the target).
 */
function choices(production: Candidate, options: ModelSearchOptions): ModelChoice[] {
  const { objective } = options
  const inPlay = modelsInPlay(options)
  const affordable = inPlay.filter((m) => objective.maxCostPer1k === undefined || m.costPer1k <= objective.maxCostPer1k)
  const choices = affordable.length > 0 ? affordable : inPlay
  if (objective.kind !== 'cheapest') return choices
  const own = inPlay.find((m) => m.model === production.content.model)
  const cheaper = own ? choices.filter((m) => m.costPer1k < own.costPer1k) : []
  return cheaper.length > 0 ? cheaper : choices
}

/** The model a round works on, from the pool alone (a retried round chooses the same one). */
export function chooseModel(pool: readonly Candidate[], production: Candidate, options: ModelSearchOptions): string {
  const { objective } = options
  const inPlay = modelsInPlay(options)
  if (inPlay.length === 1) return (inPlay[0] as ModelChoice).model
  const c = options.optimism ?? 0.15
  const score = (m: ModelChoice) => {
    const cands = byModel(pool, m.model)
    const top = best(cands)
    const s = top ? (rankScore(top) ?? 0) : 0
    return s + c / Math.sqrt(1 + cands.length / 4)
  }
  // Aim for half the margin: a pair that only just reaches the margin rarely passes the holdout test.
  const target = (rankScore(production) ?? 0) - objective.margin / 2
  const open = choices(production, options)
  // Each model is worked on once before any is chosen by its scores: a model whose migration drop is
  // large looks hopeless from its root alone, and may still be the one that can match production.
  const unexplored = open.filter((m) => byModel(pool, m.model).every(isRoot)).sort((a, b) => a.costPer1k - b.costPer1k)
  if (unexplored.length > 0) return (unexplored[0] as ModelChoice).model
  if (objective.kind === 'cheapest') {
    const reach = open.filter((m) => score(m) >= target).sort((a, b) => a.costPer1k - b.costPer1k)
    if (reach.length > 0) return (reach[0] as ModelChoice).model
  }
  return [...open].sort((a, b) => score(b) - score(a) || a.costPer1k - b.costPer1k)[0]!.model
}

/**
 * Production's prompt, unchanged, on `model`: the `switch-model` candidate whose parent is the
 * production (seed) candidate. A migration measures its drop with it, on the holdout too.
 */
export function unchangedOn<
  C extends Pick<Candidate, 'id' | 'parentIds' | 'operator' | 'status'> & { content: { model: string } },
>(pool: readonly C[], model: string): C | undefined {
  const production = pool.find((c) => c.status === 'seed')
  if (!production) return undefined
  return pool.find(
    (c) => c.operator === 'switch-model' && c.content.model === model && c.parentIds.includes(production.id),
  )
}

/**
 * A round over (model, prompt) pairs around `inner`. `production` is found in the pool as the
 * candidate with status `seed` (the prompt in production on its model).
 */
export function modelRound(inner: StrategyRound, options: ModelSearchOptions): StrategyRound {
  return async (pool, settings, ports) => {
    const outcome: RoundOutcome = { proposals: 0, accepted: 0, exhausted: false, saturated: false }
    const production = pool.find((c) => c.status === 'seed') ?? pool[0]
    if (!production) throw new Error('a model search needs the production candidate in the pool')
    const inPlay = modelsInPlay(options)
    // A prompt tried on another model, fully validated (operator switch-model).
    const switchTo = async (parent: Candidate, model: string) => {
      const content = onModel(parent.content, model)
      outcome.proposals++
      const mean = await validationMean(ports, content)
      await keep(pool, ports, {
        content,
        parentIds: [parent.id],
        operator: 'switch-model',
        status: 'accepted',
        feedbackUsed: [],
        minibatch: null,
        validationMean: mean,
      })
      outcome.accepted++
    }
    try {
      // 1. Production's prompt on every model not tried yet.
      const fresh = inPlay.filter((m) => byModel(pool, m.model).length === 0)
      for (const m of fresh) await switchTo(production, m.model)
      if (fresh.length > 0) return outcome
      // 4. Transplant the best prompt of each model onto the others a round may work on.
      const open = choices(production, options)
      for (const from of inPlay) {
        const top = best(byModel(pool, from.model))
        if (!top || top.operator === 'switch-model' || top.status === 'seed') continue
        for (const to of open) {
          if (to.model === from.model) continue
          const system = top.content.system.trim()
          if (pool.some((c) => c.content.model === to.model && c.content.system.trim() === system)) continue
          await switchTo(top, to.model)
        }
      }
    } catch (err) {
      if (!(err instanceof Exhausted)) throw err
      outcome.exhausted = true
      return outcome
    }
    if (outcome.proposals > 0) return outcome
    // 2–3. The strategy's round on the chosen model's candidates, its root first.
    const model = chooseModel(pool, production, options)
    const own = byModel(pool, model)
    const root = own.find((c) => c.status === 'seed') ?? own.find((c) => c.operator === 'switch-model') ?? own[0]
    const sub = root ? [root, ...own.filter((c) => c !== root)] : own
    const before = sub.length
    const result = await inner(sub, settings, ports)
    pool.push(...sub.slice(before))
    return result
  }
}
