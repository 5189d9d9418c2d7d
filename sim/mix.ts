/**
 * @module sim/mix
 * Which cluster a live example is drawn from under a traffic-mix drift (sim/drift.ts): the drift is
 * named in the example's key, so the key alone regenerates the example in every process.
 */
import type { Scenario } from './scenario.js'

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
