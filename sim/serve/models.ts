/**
 * @module sim/serve/models
 * The model names `kaizen sim serve` answers to:
 *
 * - a scenario's tier (`sim-standard`, `sim-large`…): task answers, from every loaded scenario with
 *   that tier (the input says which); `<scenario>/<tier>` names one scenario;
 * - `sim-judge` (or `<scenario>/sim-judge`): verdicts for Kaizen's LLM judge (graders/judge.ts);
 * - `sim-proposer` (or `<scenario>/sim-proposer`): rewrites for Kaizen's LLM proposer (proposers/llm.ts).
 */
import { KaizenError } from '../../core/errors.js'
import type { Scenario } from '../scenario.js'
import { WireError } from './wire.js'

export const JUDGE_MODEL = 'sim-judge'
export const PROPOSER_MODEL = 'sim-proposer'

export type ModelRoute =
  { kind: 'task'; tier: string; scenarios: Scenario[] } | { kind: 'judge' | 'proposer'; scenarios: Scenario[] }

/** Refuse a scenario whose tier would shadow the judge or the proposer. */
export function checkTiers(scenarios: readonly Scenario[]): void {
  for (const s of scenarios)
    for (const m of s.models)
      if (m.id === JUDGE_MODEL || m.id === PROPOSER_MODEL)
        throw new KaizenError(
          'CONFIG_ERROR',
          `scenario ${s.id} has a model tier "${m.id}", a name the simulation server keeps for its ` +
            `${m.id === JUDGE_MODEL ? 'judge' : 'proposer'}; rename the tier`,
        )
}

/** Every model id served, as `GET /v1/models` lists them. */
export function modelIds(scenarios: readonly Scenario[]): string[] {
  const tiers = [...new Set(scenarios.flatMap((s) => s.models.map((m) => m.id)))]
  const scoped =
    scenarios.length > 1
      ? scenarios.flatMap((s) => [...s.models.map((m) => m.id), JUDGE_MODEL, PROPOSER_MODEL].map((m) => `${s.id}/${m}`))
      : []
  return [...tiers, JUDGE_MODEL, PROPOSER_MODEL, ...scoped]
}

/** What a model name asks for, or a 404 naming the models served. */
export function resolveModel(scenarios: readonly Scenario[], model: string): ModelRoute {
  const slash = model.indexOf('/')
  const scope = slash >= 0 ? scenarios.filter((s) => s.id === model.slice(0, slash)) : scenarios
  const name = slash >= 0 ? model.slice(slash + 1) : model
  if (scope.length > 0) {
    if (name === JUDGE_MODEL) return { kind: 'judge', scenarios: [...scope] }
    if (name === PROPOSER_MODEL) return { kind: 'proposer', scenarios: [...scope] }
    const withTier = scope.filter((s) => s.models.some((m) => m.id === name))
    if (withTier.length > 0) return { kind: 'task', tier: name, scenarios: withTier }
  }
  throw new WireError(
    404,
    `the Kaizen simulation server has no model "${model}"; it serves ${modelIds(scenarios).join(', ')} ` +
      '(GET /v1/models)',
    'model_not_found',
    'model',
  )
}
