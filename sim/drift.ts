/**
 * @module sim/drift
 * Scheduled drift in a simulated world, for the quality monitor's demo, tests and benchmarks:
 *
 * - `model-update`: the provider changes the model behind the same name (a silent update) — its
 *   ability, the wordings it ignores, its own clause effects, a new need of a format instruction,
 *   its error rate;
 * - `latency`: the model answers more slowly (its median latency × `factor`);
 * - `traffic-mix`: new traffic comes from other clusters in other proportions (e.g. toward one the
 *   production prompt handles badly).
 *
 * A model change is a scenario derived from the original (`driftedScenario`): the same seed, so the
 * same requests draw the same uniforms and a change shows as exactly its own effect. Which changes
 * apply travels with each request (`SimulationRef.drift`), so a cached answer from before a change
 * is never served after it and a run replays. A traffic-mix change is in the example's key
 * (`live:…@<drift id>`): the key alone still regenerates the example in every process.
 */
import type { Scenario, ScenarioDrift } from './scenario.js'

const MIX_SUFFIX = /@([a-z0-9][a-z0-9-]*)$/

/** The key of an example drawn under a traffic-mix drift. */
export function mixedKey(key: string, driftId: string): string {
  return `${key}@${driftId}`
}

/** The cluster weights an example key is drawn with: the mix drift named in the key, else the scenario's. */
export function clusterWeightsFor(scenario: Scenario, key: string): number[] {
  const id = MIX_SUFFIX.exec(key)?.[1]
  const drift = id === undefined ? undefined : scenario.drift.find((d) => d.id === id)
  if (drift?.kind !== 'traffic-mix') return scenario.clusters.map((c) => c.weight)
  return scenario.clusters.map((c) => drift.weights[c.id] ?? c.weight)
}

/** Whether a drift changes how a model answers (as opposed to which requests arrive). */
export const changesModel = (d: ScenarioDrift): boolean => d.kind !== 'traffic-mix'

/**
 * The scenario with these model drifts applied, in the order given. Unknown ids are refused by the
 * caller (providers/simulation.ts); traffic-mix drifts leave the models as they are.
 */
export function driftedScenario(scenario: Scenario, ids: readonly string[]): Scenario {
  if (ids.length === 0) return scenario
  let models = scenario.models
  for (const id of ids) {
    const d = scenario.drift.find((x) => x.id === id)
    if (!d || d.kind === 'traffic-mix') continue
    models = models.map((m) => {
      if (m.id !== d.model) return m
      if (d.kind === 'latency') return { ...m, latencyMs: { ...m.latencyMs, median: m.latencyMs.median * d.factor } }
      return {
        ...m,
        ability: m.ability + d.ability,
        ignores: [...m.ignores, ...d.ignores],
        clauseEffects: [...m.clauseEffects, ...d.clauseEffects],
        ...(d.format ? { format: d.format } : {}),
        ...(d.errorRate !== undefined ? { errorRate: d.errorRate } : {}),
      }
    })
  }
  return { ...scenario, models }
}
