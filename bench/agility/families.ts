/**
 * Worlds of the model-agility benchmark: the search benchmark's "moderate" family
 * (bench/search/families.ts) with three model tiers that respond to clauses in their own ways,
 * drawn per instance:
 *
 * - `sim-large` (strong and dear: ability +0.6, $3 / $15 per million tokens, ~2 s, 30 % more output
 *   tokens), two clause effects of its own (±0.4);
 * - `sim-standard` (mid: ability 0, $0.40 / $1.60), three clause effects of its own (−0.5 … +0.9),
 *   and it ignores the first wording of one clause of production's prompt;
 * - `sim-small` (cheap: ability −0.4, $0.10 / $0.40, ~0.4 s), needs an explicit format instruction
 *   (a general clause of the library, weight 1.0), ignores the first wording of one or two clauses
 *   of production's prompt, and has three clause effects of its own.
 *
 * Production is the old pair: `sim-large` with its exact optimum prompt (first wordings), so the
 * migration drop is what moving that prompt to another tier loses.
 */
import { Rng } from '../../core/rng.js'
import type { Scenario, ScenarioModel } from '../../sim/scenario.js'
import { SimWorld } from '../../sim/world.js'
import { familyScenario } from '../search/families.js'
import { exactOptimum, promptFor } from '../search/optimum.js'

export const TIERS = ['sim-large', 'sim-standard', 'sim-small'] as const
export type Tier = (typeof TIERS)[number]
export const PRODUCTION_MODEL: Tier = 'sim-large'

/** Instances for tuning (never reported) and for reported numbers. */
export const DEV_INSTANCES: readonly number[] = Array.from({ length: 60 }, (_, i) => i)
export const TEST_INSTANCES: readonly number[] = Array.from({ length: 60 }, (_, i) => 1000 + i)

/** How much harder than the search family the examples are (logit). */
const SHIFT = 1

const round = (x: number, d = 2) => Math.round(x * 10 ** d) / 10 ** d

/**
 * The world as one tier sees it, for the exact optimum: its clause effects and format need folded
 * into generic effects, the wordings it ignores removed (a clause it ignores in one wording is still
 * reachable in another). Whole-clause ignores are not supported here (the families do not draw them).
 */
export function tierView(scenario: Scenario, modelId: string): Scenario {
  const m = scenario.models.find((x) => x.id === modelId)
  if (!m) throw new Error(`tierView: no model ${modelId} in ${scenario.id}`)
  if (m.ignores.some((g) => g.phrasing === undefined))
    throw new Error(`tierView: ${modelId} ignores a clause in every wording, which the exact optimum does not model`)
  const view: ScenarioModel = {
    ...m,
    ability: m.ability - (m.format?.weight ?? 0),
    ignores: [],
    clauseEffects: [],
  }
  delete view.format
  return {
    ...scenario,
    task: { ...scenario.task, prompt: { ...scenario.task.prompt, model: modelId } },
    clauses: scenario.clauses.map((c) => ({
      ...c,
      paraphrases: c.paraphrases.filter((p) => !m.ignores.some((g) => g.clause === c.id && g.phrasing === p)),
    })),
    effects: {
      ...scenario.effects,
      generic: [
        ...scenario.effects.generic,
        ...m.clauseEffects,
        ...(m.format ? [{ clause: m.format.clause, weight: m.format.weight }] : []),
      ],
    },
    models: [view],
  }
}

export interface AgilityInstance {
  scenario: Scenario
  world: SimWorld
  /** Production's prompt on PRODUCTION_MODEL: that tier's exact optimum, in first wordings. */
  productionSystem: string
  productionClauses: string[]
}

export function agilityInstance(instance: number, calibrationKeys: readonly string[]): AgilityInstance {
  const base = familyScenario('moderate', instance)
  const rng = Rng.fromSeed('bench-agility-family', instance)
  const ids = base.clauses.map((c) => c.id)
  const effects = (n: number, lo: number, hi: number) =>
    rng.sample(ids, n).map((clause) => ({ clause, weight: round(lo + (hi - lo) * rng.float()) }))
  const tier = (id: Tier, ability: number, price: [number, number], latency: number): ScenarioModel => ({
    id,
    ability,
    latencyMs: { median: latency, spread: 0.3 },
    price: { inputPerMTok: price[0], outputPerMTok: price[1] },
    errorRate: 0,
    ignores: [],
    clauseEffects: [],
    tokens: { input: 1, output: 1 },
  })
  const large = { ...tier('sim-large', 0.6, [3, 15], 2000), clauseEffects: effects(2, -0.4, 0.4) }
  large.tokens = { input: 1, output: 1.3 }
  // One logit lower than the search family's calibration: production then sits near 0.7 rather
  // than 0.9, so the tiers' differences are not hidden by a ceiling.
  const withLarge: Scenario = {
    ...base,
    effects: { ...base.effects, baseLogit: { ...base.effects.baseLogit, mean: base.effects.baseLogit.mean - SHIFT } },
    task: { ...base.task, prompt: { ...base.task.prompt, model: 'sim-large' } },
    models: [large],
  }
  const optimum = exactOptimum(new SimWorld(tierView(withLarge, 'sim-large')), calibrationKeys, 'sim-large')
  const productionClauses = optimum.clauses
  const productionSystem = promptFor(withLarge, productionClauses)
  const ignoreFirst = (n: number) =>
    rng.sample(productionClauses, Math.min(n, productionClauses.length)).map((clause) => ({
      clause,
      phrasing: base.clauses.find((c) => c.id === clause)?.paraphrases[0] as string,
    }))
  const standard = {
    ...tier('sim-standard', 0, [0.4, 1.6], 900),
    clauseEffects: effects(3, -0.5, 0.9),
    ignores: ignoreFirst(1),
  }
  const general = base.clauses.filter((c) => !c.failureMode || c.failureMode === 'malformed').map((c) => c.id)
  const formatClause = ids.includes('json-only') ? 'json-only' : rng.pick(general.length > 0 ? general : ids)
  const formatText = base.clauses.find((c) => c.id === formatClause)?.paraphrases[1] as string
  const small = {
    ...tier('sim-small', -0.4, [0.1, 0.4], 400),
    clauseEffects: effects(3, -0.5, 0.9),
    ignores: ignoreFirst(1 + rng.int(2)),
    format: {
      clause: formatClause,
      weight: 1,
      feedback:
        'The answer was prose, not the decision the tooling expects; this model needs the plain instruction ' +
        `"${formatText}"`,
    },
  }
  const scenario: Scenario = {
    ...withLarge,
    id: `bench-agility-${instance}`,
    models: [large, standard, small],
  }
  return { scenario, world: new SimWorld(scenario), productionSystem, productionClauses }
}
