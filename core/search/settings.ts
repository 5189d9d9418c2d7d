/**
 * @module core/search/settings
 * A campaign's `search` config (core/config.ts) as the settings a strategy round runs with.
 * Settings the config leaves unset take the defaults of the `StrategySettings` schema.
 *
 * Pure module: no I/O.
 */
import { CampaignConfig } from '../config.js'
import { POOLED_LOCAL_MODEL } from './pooled-local.js'
import { DEFAULT_STRATEGY_SETTINGS, type StrategySettings } from './types.js'

/** The campaign config's `search` object, as parsed (defaults applied). */
export const SearchConfig = CampaignConfig.shape.search.unwrap()
export type SearchConfig = CampaignConfig['search']

/** The part of the `search` config a strategy round reads. */
export type SearchStrategyConfig = Pick<
  SearchConfig,
  'strategy' | 'proposalsPerRound' | 'minibatchSize' | 'beamWidth' | 'population' | 'mergeEvery' | 'selection'
> &
  Partial<Pick<SearchConfig, 'design'>>

export function strategySettings(search: SearchStrategyConfig): StrategySettings {
  return {
    ...DEFAULT_STRATEGY_SETTINGS,
    proposals: search.proposalsPerRound,
    minibatchSize: search.minibatchSize,
    beamWidth: search.beamWidth || DEFAULT_STRATEGY_SETTINGS.beamWidth,
    population: search.population || DEFAULT_STRATEGY_SETTINGS.population,
    mergeEvery: search.mergeEvery ?? DEFAULT_STRATEGY_SETTINGS.mergeEvery,
    pooled: search.selection === 'pooled',
    ...(search.strategy === 'pooled-local' ? POOLED_LOCAL_MODEL : {}),
    ...Object.fromEntries(Object.entries(search.design ?? {}).filter(([, v]) => v !== undefined)),
  }
}
