/**
 * @module core/search/strategies
 * Every search strategy behind one interface (`StrategyRound`): one round of work over the
 * candidate pool through the ports, which carry the shared evaluation cache and the ledgers.
 *
 * Pure module: all I/O goes through the ports.
 */
import { hillClimbRound, randomSearchRound } from './baselines.js'
import { beamRound } from './beam.js'
import { evolutionRound } from './evolution.js'
import { gepaRound } from './gepa.js'
import type { StrategyName, StrategyRound } from './types.js'

export { STRATEGY_NAMES, type StrategyName } from './types.js'

export const STRATEGIES: Record<StrategyName, StrategyRound> = {
  random: randomSearchRound,
  'hill-climb': hillClimbRound,
  beam: beamRound,
  gepa: (pool, settings, ports) => gepaRound(pool, settings, ports, { select: 'pareto' }),
  'gepa-best': (pool, settings, ports) => gepaRound(pool, settings, ports, { select: 'best' }),
  'gepa-race': (pool, settings, ports) => gepaRound(pool, settings, ports, { select: 'best', race: true }),
  evolution: evolutionRound,
}

/** Strategies that read failure feedback (the benchmark's fidelity-0 check is about these). */
export const REFLECTIVE: ReadonlySet<StrategyName> = new Set(['beam', 'gepa', 'gepa-best', 'gepa-race'])
