/**
 * @module activities/search-round-input
 * What the `searchRound` activity is given, validated, and what it runs with. The workflow sends
 * the campaign's parsed `search` config as one field (`SearchRoundInput`); running campaigns and
 * recorded histories carry the flat shape older workflow code built from it
 * (`LegacySearchRoundInput`). Both become the same `SearchRoundRequest`.
 *
 * Pure module: no I/O.
 */
import { z } from 'zod'
import { fromZodError, KaizenError } from '../core/errors.js'
import { isMapping, searchModels } from '../core/config.js'
import { SearchConfig, strategySettings, type SearchStrategyConfig } from '../core/search/settings.js'
import { STRATEGY_NAMES, type StrategyName, type StrategySettings } from '../core/search/types.js'
import type { FanOutSettings } from '../core/fanout.js'
import type { AgilityObjective } from '../core/agility.js'

const FanOut = z.object({ minItems: z.number().int().min(0), chunkItems: z.number().int().min(1) })

const common = {
  campaignId: z.string().min(1),
  round: z.number().int().min(1),
  seed: z.string().min(1),
  datasetId: z.string().min(1),
  graderVersionId: z.string().min(1),
  // Inputs recorded before 2026-12 also carry the task's scenario: no longer read (the provider knows it).
  /** Defer large evaluations to chunk activities (core/fanout.ts); absent: evaluate everything here. */
  fanOut: FanOut.optional(),
  /** A chunk of this round ran into the spend budget: end the round as the budget stop does. */
  budgetExhausted: z.string().nullable().optional(),
}

/** The spend limit is the search config's `budgetUsd` (absent: none). */
const CurrentInput = z.object({ ...common, search: SearchConfig })

/** The flat input of older workflow code: unset settings are absent, reflective and own ranking by absence. */
const LegacyInput = z.object({
  ...common,
  budgetUsd: z.number().positive().nullable().optional(),
  proposals: z.number().int().min(1),
  minibatchSize: z.number().int().min(1),
  rolloutBudget: z.number().int().min(0),
  /** Absent: the reflective (select-best) search. */
  strategy: z.enum(STRATEGY_NAMES).optional(),
  beamWidth: z.number().int().min(1).optional(),
  population: z.number().int().min(1).optional(),
  mergeEvery: z.number().int().min(0).optional(),
  proposerModel: z.string().min(1).optional(),
  /** Absent: candidates are ranked by their own validation means. */
  pooled: z.boolean().optional(),
  maxSentences: z.number().int().min(1).optional(),
  maxPromptTokens: z.number().int().min(1).optional(),
})

/** The input the workflow sends: the campaign's `search` config (as parsed) in one field. */
export type SearchRoundInput = z.input<typeof CurrentInput>
/** The flat input of running campaigns and recorded histories. */
export type LegacySearchRoundInput = z.input<typeof LegacyInput>

/** What a search round runs with, whichever shape its input came in. */
export interface SearchRoundRequest {
  campaignId: string
  round: number
  seed: string
  datasetId: string
  graderVersionId: string
  budgetUsd: number | null
  strategy: 'reflective' | StrategyName
  settings: StrategySettings
  rolloutBudget: number
  /** The LLM proposer's model (required for real tasks; simulated ones use the simulated proposer without it). */
  proposerModel: string | null
  maxSentences: number | null
  maxPromptTokens: number | null
  fanOut: FanOutSettings | null
  budgetExhausted: string | null
  /** A search over (model, prompt) pairs (docs/model-agility.md); null: the baseline's model only. */
  agility: { models: string[]; objective: AgilityObjective; finalistsPerModel: number } | null
}

type RoundSearch = SearchStrategyConfig &
  Pick<SearchConfig, 'strategy' | 'rolloutBudget' | 'proposerModel' | 'maxSentences' | 'maxPromptTokens'> &
  Partial<Pick<SearchConfig, 'models' | 'objective' | 'finalistsPerModel'>>

/** The `search` config a flat input was built from (as far as a round reads it). */
export function searchOfLegacy(input: z.output<typeof LegacyInput>): RoundSearch {
  return {
    strategy: input.strategy ?? 'reflective',
    selection: input.pooled === true ? 'pooled' : 'own',
    proposalsPerRound: input.proposals,
    minibatchSize: input.minibatchSize,
    rolloutBudget: input.rolloutBudget,
    beamWidth: input.beamWidth,
    population: input.population,
    mergeEvery: input.mergeEvery,
    proposerModel: input.proposerModel,
    maxSentences: input.maxSentences,
    maxPromptTokens: input.maxPromptTokens,
  }
}

type Common = z.output<z.ZodObject<typeof common>> & { budgetUsd?: number | null }

function requestOf(input: Common, search: RoundSearch): SearchRoundRequest {
  return {
    campaignId: input.campaignId,
    round: input.round,
    seed: input.seed,
    datasetId: input.datasetId,
    graderVersionId: input.graderVersionId,
    budgetUsd: input.budgetUsd ?? null,
    strategy: search.strategy,
    settings: strategySettings(search),
    rolloutBudget: search.rolloutBudget,
    proposerModel: search.proposerModel ?? null,
    maxSentences: search.maxSentences ?? null,
    maxPromptTokens: search.maxPromptTokens ?? null,
    fanOut: input.fanOut ?? null,
    budgetExhausted: input.budgetExhausted ?? null,
    agility: search.objective
      ? {
          objective: search.objective,
          models: searchModels(search),
          finalistsPerModel: search.finalistsPerModel ?? 1,
        }
      : null,
  }
}

/** Either shape, validated: an input with `search` is the current shape, one without it the flat one. */
export const SearchRoundInputSchema = z.union([
  CurrentInput.transform((input) => requestOf({ ...input, budgetUsd: input.search.budgetUsd ?? null }, input.search)),
  LegacyInput.transform((input) => requestOf(input, searchOfLegacy(input))),
])

export function parseSearchRoundInput(value: unknown): SearchRoundRequest {
  if (!isMapping(value)) throw new KaizenError('INVALID_INPUT', 'searchRound input must be a mapping')
  // The shape decides which schema's refusal explains the problem (a union's would name neither).
  const option = SearchRoundInputSchema.options['search' in value ? 0 : 1]
  const parsed = option.safeParse(value)
  if (!parsed.success)
    throw fromZodError(
      parsed.error,
      'search' in value ? 'searchRound input' : 'searchRound input (flat, without search)',
    )
  return parsed.data
}
