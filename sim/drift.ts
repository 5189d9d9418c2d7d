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
import { KaizenError } from '../core/errors.js'
import { driftAfterMs, type Scenario, type ScenarioDrift } from './scenario.js'
import { SimWorld } from './world.js'

export { clusterWeightsFor, mixedKey } from './mix.js'

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

/** A drift of a scenario and when it started (null: not started). */
export interface DriftState {
  id: string
  kind: ScenarioDrift['kind']
  description: string | null
  /** Scheduled start after the simulation started, in ms (null: only when started by hand). */
  afterMs: number | null
  startedAt: Date | null
}

/**
 * When each drift of a set of scenarios starts: on its schedule (`after`, counted from `startedAt`)
 * or by hand (`start`), whichever is first; and the worlds with the model drifts in effect.
 */
export class DriftClock {
  private readonly started = new Map<string, Map<string, number>>()
  private readonly worlds = new Map<string, SimWorld>()

  constructor(
    /** When the simulation started: scheduled drifts (`after`) count from here. */
    readonly startedAt: number,
    private readonly fidelity: { fidelity?: number } = {},
  ) {}

  /** When a drift started or starts (null: never on its own). */
  private startOf(scenario: Scenario, d: ScenarioDrift): number | null {
    const byHand = this.started.get(scenario.id)?.get(d.id)
    const after = driftAfterMs(d)
    const starts = [byHand, after === null ? undefined : this.startedAt + after].filter(
      (t): t is number => t !== undefined,
    )
    return starts.length === 0 ? null : Math.min(...starts)
  }

  /** A scenario's drifts in effect at a time, in the order they started. */
  active(scenario: Scenario, at: number): ScenarioDrift[] {
    return scenario.drift
      .map((d) => ({ d, start: this.startOf(scenario, d) }))
      .filter((x): x is { d: ScenarioDrift; start: number } => x.start !== null && x.start <= at)
      .sort((a, b) => a.start - b.start)
      .map((x) => x.d)
  }

  /** Ids of the model drifts in effect at a time (what a request carries). */
  modelDrifts(scenario: Scenario, at: number): string[] {
    return this.active(scenario, at)
      .filter(changesModel)
      .map((d) => d.id)
  }

  /** A scenario's drifts and when each started. */
  states(scenario: Scenario, now = Date.now()): DriftState[] {
    return scenario.drift.map((d) => {
      const start = this.startOf(scenario, d)
      return {
        id: d.id,
        kind: d.kind,
        description: d.description ?? null,
        afterMs: driftAfterMs(d),
        startedAt: start === null || start > now ? null : new Date(start),
      }
    })
  }

  /** Start a drift now (or at `at`); one already started keeps its first start. NOT_FOUND names the drifts. */
  start(scenario: Scenario, driftId: string, at = Date.now()): DriftState {
    if (!scenario.drift.some((d) => d.id === driftId))
      throw new KaizenError(
        'NOT_FOUND',
        `scenario "${scenario.id}" has no drift "${driftId}" ` +
          `(its drifts: ${scenario.drift.map((d) => d.id).join(', ') || 'none; add them under drift:'})`,
      )
    const mine = this.started.get(scenario.id) ?? new Map<string, number>()
    if (!mine.has(driftId)) mine.set(driftId, at)
    this.started.set(scenario.id, mine)
    return this.states(scenario).find((d) => d.id === driftId) as DriftState
  }

  /** The world of a scenario with these model drifts applied (the base world for none). */
  worldWith(base: SimWorld, drift: readonly string[] | undefined): SimWorld {
    if (!drift || drift.length === 0) return base
    const scenario = base.scenario
    for (const id of drift) {
      if (!scenario.drift.some((d) => d.id === id && changesModel(d)))
        throw new KaizenError(
          'INVALID_INPUT',
          `scenario "${scenario.id}" has no model drift "${id}" ` +
            `(model drifts: ${
              scenario.drift
                .filter(changesModel)
                .map((d) => d.id)
                .join(', ') || 'none'
            })`,
        )
    }
    const key = `${scenario.id}\u0000${drift.join('\u0000')}`
    let world = this.worlds.get(key)
    if (!world) {
      world = new SimWorld(driftedScenario(scenario, drift), this.fidelity)
      this.worlds.set(key, world)
    }
    return world
  }
}
