/**
 * @module core/search/strategies
 * Every search strategy behind one interface (`StrategyRound`): one round of work over the
 * candidate pool through the ports, which carry the shared evaluation cache and the ledgers.
 *
 * Pure module: all I/O goes through the ports.
 */
import { hillClimbRound, randomSearchRound } from './baselines.js'
import { beamRound } from './beam.js'
import { designedRound } from './designed.js'
import { evolutionRound } from './evolution.js'
import { fewShotRound } from './fewshot.js'
import { gepaRound } from './gepa.js'
import { pooledLocalRound } from './pooled-local.js'
import { reestimate } from './pooled.js'
import { reflectiveRound } from './reflective.js'
import type { Candidate, RoundOutcome, SearchPorts, StrategyName, StrategyRound, StrategySettings } from './types.js'

export { STRATEGY_NAMES, type StrategyName } from './types.js'

export const STRATEGIES: Record<StrategyName, StrategyRound> = {
  random: randomSearchRound,
  'hill-climb': hillClimbRound,
  beam: beamRound,
  gepa: (pool, settings, ports) => gepaRound(pool, settings, ports, { select: 'pareto' }),
  'gepa-best': (pool, settings, ports) => gepaRound(pool, settings, ports, { select: 'best' }),
  'gepa-race': (pool, settings, ports) => gepaRound(pool, settings, ports, { select: 'best', race: true }),
  'pooled-local': pooledLocalRound,
  designed: designedRound,
  evolution: evolutionRound,
  fewshot: fewShotRound,
}

/** The round of a configured strategy; 'reflective': the select-best search (./reflective.ts). */
export const strategyRound = (name: 'reflective' | StrategyName): StrategyRound =>
  name === 'reflective' ? reflectiveRound : STRATEGIES[name]

/** Strategies that read failure feedback (the benchmark's fidelity-0 check is about these). */
export const REFLECTIVE: ReadonlySet<StrategyName> = new Set(['beam', 'gepa', 'gepa-best', 'gepa-race', 'pooled-local'])

/**
 * Run one round of a strategy with the pool's rankings up to date: with `settings.pooled`, every
 * candidate's pooled estimate is refreshed before the round (so parents are chosen by it) and
 * after it (so the incumbent is).
 */
export async function runRound(
  round: StrategyRound,
  pool: Candidate[],
  settings: StrategySettings,
  ports: SearchPorts,
): Promise<RoundOutcome> {
  // Before: only evidence that existed when the round first started (a retried round must choose
  // as the first attempt did).
  const model = { ridge: settings.ridge, residualPrior: settings.residualPrior }
  if (settings.pooled) await reestimate(pool, ports, { asOfRoundStart: true, ...model })
  const outcome = await round(pool, settings, ports)
  if (settings.pooled) await reestimate(pool, ports, model)
  return outcome
}
