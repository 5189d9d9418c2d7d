/**
 * @module core/search/estimate
 * What a campaign will cost before it runs: task rollouts (baseline, search, holdout gate),
 * proposer calls, and dollars at the given prices. The search part depends on how many proposals
 * are accepted (each accepted one pays a full validation pass), so it is given as a range, from
 * none accepted to all accepted, with a point estimate at `acceptRate`; every part is capped by
 * the rollout budget as the search itself is.
 *
 * Pure module: no I/O.
 */
import { searchModels, type CampaignConfig } from '../config.js'
import { approxTokens } from '../prompt.js'

export interface EstimateInput {
  config: CampaignConfig
  /** Usable traffic records (the snapshot takes at most config.sample.size of them). */
  availableRecords: number
  /** Per-call token sizes of the task model, and its price per million tokens (null: unknown). */
  tokens: { input: number; output: number }
  price: { inputPerMTok: number; outputPerMTok: number } | null
  proposerPrice?: { inputPerMTok: number; outputPerMTok: number } | null
  /** Share of proposals accepted (default 0.3, seen in the simulation benchmark's reflective runs). */
  acceptRate?: number
  /**
   * For `search.budgetUsd`: the most output tokens a task call may take (the prompt's `maxTokens`)
   * and the calls a worker has in flight at once (KAIZEN_EVAL_CONCURRENCY). The spend check reserves
   * each call in flight at its worst case, so the holdout gate needs that much headroom.
   */
  budgetCheck?: { maxTokens: number; inFlight: number }
}

/** How `search.budgetUsd` divides, when it is set and the model has a price. */
export interface BudgetSplit {
  usd: number
  baselineUsd: number
  /** Kept for the holdout gate: every arm on every holdout item, plus the worst cases in flight. */
  holdoutReserveUsd: number
  /** What the search may spend (negative: the budget does not cover the baseline and the gate). */
  searchUsd: number
  /** Search rollouts that buys at the expected cost per call (0 when none). */
  searchRollouts: number
  /** `search.finalistsPerModel` of a search over models (each finalist is a holdout pass); 1 otherwise. */
  finalistsPerModel: number
}

export interface Estimate {
  items: { train: number; validation: number; holdout: number }
  rollouts: {
    baseline: number
    search: { low: number; expected: number; high: number }
    holdout: number
    total: { low: number; expected: number; high: number }
  }
  proposerCalls: number
  usd: { expected: number | null; high: number | null }
  /** Null without `search.budgetUsd`, a price for the model, or `budgetCheck`. */
  budget: BudgetSplit | null
  assumptions: string[]
  /** Settings that would make the campaign do less than it is asked to (the field and the fix). */
  warnings: string[]
}

type Price = NonNullable<EstimateInput['price']>

/** Dollars of one call at a price per million tokens. */
const callUsd = (price: Price, inputTokens: number, outputTokens: number) =>
  (inputTokens * price.inputPerMTok + outputTokens * price.outputPerMTok) / 1e6

/** Items per split of a sample drawn from `availableRecords` usable records (at most `sample.size`). */
export function splitSizes(
  config: Pick<EstimateInput['config'], 'sample' | 'splits'>,
  availableRecords: number,
): { train: number; validation: number; holdout: number } {
  const n = Math.min(config.sample.size, availableRecords)
  const train = Math.floor(n * config.splits.train)
  const validation = Math.floor(n * config.splits.validation)
  return { train, validation, holdout: n - train - validation }
}

export function estimateCampaign(input: EstimateInput): Estimate {
  const { config } = input
  const n = Math.min(config.sample.size, input.availableRecords)
  const { train, validation, holdout } = splitSizes(config, input.availableRecords)
  const s = config.search
  const proposals = s.rounds * s.proposalsPerRound
  const m = Math.min(s.minibatchSize, train)
  const accept = input.acceptRate ?? 0.3
  let perProposal: (a: number) => number
  switch (s.strategy) {
    case 'random':
    case 'hill-climb':
      perProposal = () => validation
      break
    case 'beam': {
      const width = s.beamWidth ?? 3
      // Parents on 2m training items, children by successive halving, survivors fully validated.
      const halving =
        Math.max(4, Math.ceil(validation / 2 ** Math.ceil(Math.log2(Math.max(2, s.proposalsPerRound))))) *
        Math.max(1, Math.log2(s.proposalsPerRound))
      perProposal = (a) => (width * 2 * m) / s.proposalsPerRound + halving + a * validation
      break
    }
    case 'fewshot':
      // The parent once per round and each child on a minibatch; full validation on acceptance. No proposer model.
      perProposal = (a) => m / s.proposalsPerRound + m + a * validation
      break
    case 'pooled-local':
      // Parent and child on a minibatch of validation items, every child kept; a full validation
      // pass for the candidate ranked first at the start of a round (when it is new).
      perProposal = (a) => 2 * Math.min(s.minibatchSize, validation) + (a * validation) / s.proposalsPerRound
      break
    default:
      // GEPA-style: parent and child on a minibatch; a full validation pass per accepted child.
      perProposal = (a) => 2 * m + a * validation
  }
  // The rollout budget covers every task rollout before the holdout gate: the baseline's scoring
  // (train and validation) comes out of it first, and the search may spend the rest (a budget the
  // baseline uses up is a preflight warning, db/queries/preflight.ts).
  const baseline = train + validation
  const searchCap = Math.max(0, s.rolloutBudget - baseline)
  const cap = (x: number) => Math.min(searchCap, Math.round(x))
  // A search over models (docs/model-agility.md): production's prompt validated on each model first,
  // and each model's finalists (`finalistsPerModel`) on the holdout besides production (a
  // migration: also production's prompt unchanged on the target model, its drop).
  const models = searchModels(s).length
  const switches = models * validation
  const search = {
    low: cap(switches + proposals * perProposal(0)),
    expected: cap(switches + proposals * perProposal(accept)),
    high: cap(switches + proposals * perProposal(1)),
  }
  const finalists = models > 0 ? models * s.finalistsPerModel : 1
  const gate = (1 + finalists + (s.objective?.kind === 'migrate' ? 1 : 0)) * holdout
  const total = {
    low: baseline + search.low + gate,
    expected: baseline + search.expected + gate,
    high: baseline + search.high + gate,
  }
  const perCall = input.price ? callUsd(input.price, input.tokens.input, input.tokens.output) : null
  const proposerCalls = s.strategy === 'fewshot' ? 0 : proposals
  const proposerPerCall = input.proposerPrice ? callUsd(input.proposerPrice, 2_000, 800) : 0
  const usd =
    perCall === null
      ? { expected: null, high: null }
      : {
          expected: total.expected * perCall + proposerCalls * proposerPerCall,
          high: total.high * perCall + proposerCalls * proposerPerCall,
        }
  const budget = budgetSplit(input, { baseline, gate, perCall })
  const warnings: string[] = []
  const shortfall = budget ? budgetShortfall(budget) : null
  if (shortfall) warnings.push(shortfall)
  else if (budget && budget.searchRollouts < search.expected)
    warnings.push(
      `search.budgetUsd $${budget.usd} leaves ~$${budget.searchUsd.toFixed(4)} for the search, about ` +
        `${budget.searchRollouts} rollouts of the ${search.expected} expected: the search will likely end on the ` +
        'spend budget with its best so far.',
    )
  return {
    items: { train, validation, holdout },
    rollouts: { baseline, search, holdout: gate, total },
    proposerCalls,
    usd,
    budget,
    warnings,
    assumptions: [
      `${n} records snapshotted (of ${input.availableRecords} usable), split ${train}/${validation}/${holdout}`,
      `${proposals} proposals (${s.rounds} rounds × ${s.proposalsPerRound}), ` +
        `${Math.round(accept * 100)} % accepted in the expected case`,
      `search capped at the rollout budget of ${s.rolloutBudget} less the baseline's ${baseline} (the budget ` +
        'covers every rollout before the holdout gate)',
      `${input.tokens.input} input and ${input.tokens.output} output tokens per task call` +
        (input.price ? '' : '; no price known for the model, so no dollars'),
      'cache hits (answers already paid for by earlier campaigns) are free and not subtracted: ' +
        'the estimate is an upper bound on them',
      ...(models > 0
        ? [
            `a search over ${models} model(s): production's prompt validated on each, ` +
              (s.finalistsPerModel > 1
                ? `each one's ${s.finalistsPerModel} best-ranked candidates on the holdout`
                : "each one's finalist on the holdout") +
              "; dollars at the production model's price (a cheaper model costs less)",
          ]
        : []),
      ...(s.strategy === 'fewshot'
        ? [
            'few-shot: demonstrations lengthen every call beyond the token figures above; ' +
              'grading the training traffic for demonstrations may add judge calls',
          ]
        : []),
    ],
  }
}

/**
 * Why a spend budget leaves the search nothing (it does not cover scoring the baseline and what is
 * kept for the holdout gate), with the fix; null when it leaves some. A campaign start refuses it
 * (db/queries/preflight.ts): such a campaign would pay for the baseline and the gate and try no prompt.
 */
export function budgetShortfall(budget: BudgetSplit): string | null {
  if (budget.searchUsd > 0) return null
  return (
    `search.budgetUsd $${budget.usd} does not cover scoring the baseline (~$${budget.baselineUsd.toFixed(4)}) ` +
    `and what is kept for the holdout gate (~$${budget.holdoutReserveUsd.toFixed(4)}): the search would ` +
    `stop before its first proposal. Raise search.budgetUsd above ` +
    `$${(budget.baselineUsd + budget.holdoutReserveUsd).toFixed(4)}` +
    (budget.finalistsPerModel > 1
      ? `, or lower search.finalistsPerModel (${budget.finalistsPerModel}: each finalist is a pass over the holdout).`
      : '.')
  )
}

/**
 * Per-call token sizes of a prompt version's calls, as estimates assume them: its instructions and
 * template plus ~150 tokens of input, and half its output limit.
 */
export function callTokens(version: { system: string; userTemplate: string; params: { maxTokens: number } }): {
  input: number
  output: number
} {
  return {
    input: approxTokens(`${version.system}\n${version.userTemplate}`) + 150,
    output: Math.round(version.params.maxTokens / 2),
  }
}

/**
 * How the spend budget divides: the baseline, the holdout reserve the search keeps (as
 * activities/campaign-data.ts computes it, at the expected cost per call), and the rest.
 */
function budgetSplit(
  input: EstimateInput,
  counts: { baseline: number; gate: number; perCall: number | null },
): BudgetSplit | null {
  const usd = input.config.search.budgetUsd
  if (usd === undefined || counts.perCall === null || !input.price || !input.budgetCheck) return null
  const worst = callUsd(input.price, input.tokens.input, input.budgetCheck.maxTokens)
  const baselineUsd = counts.baseline * counts.perCall
  const holdoutReserveUsd = counts.gate * counts.perCall + Math.min(input.budgetCheck.inFlight, counts.gate) * worst
  const searchUsd = usd - baselineUsd - holdoutReserveUsd
  const searchRollouts = searchUsd > 0 && counts.perCall > 0 ? Math.floor(searchUsd / counts.perCall) : 0
  const s = input.config.search
  const finalistsPerModel = searchModels(s).length > 0 ? s.finalistsPerModel : 1
  return { usd, baselineUsd, holdoutReserveUsd, searchUsd, searchRollouts, finalistsPerModel }
}
