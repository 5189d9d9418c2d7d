/**
 * @module providers/simulation
 * The built-in simulation provider: deterministic, prompt-sensitive answers driven by scenario
 * files (see sim/). Everything it returns is marked `simulated: true` and its model ids start
 * with `sim-`, so simulated results are never mistaken for a real model's.
 *
 * It is the only way into sim/ for the rest of Kaizen: a scenario supplies a task (registered like
 * any other), the simulated model behind it, the cases its traffic is drawn from, and the
 * simulated reflection model a search uses when no proposer model is configured. Production code
 * never asks which scenario a task comes from: it hands this provider a task id or an item.
 */
import { costAt } from './prices.js'
import { KaizenError } from '../core/errors.js'
import { approxTokens } from '../core/prompt.js'
import type { Proposer } from '../core/search/types.js'
import { normalHash } from '../lib/hash.js'
import type { SimExample } from '../sim/generator.js'
import { SimulationProposer } from '../sim/proposer.js'
import { loadScenarios, requireScenario } from '../sim/registry.js'
import { driftAfterMs, type Scenario, type ScenarioDrift } from '../sim/scenario.js'
import { changesModel, driftedScenario, mixedKey } from '../sim/drift.js'
import { taskOfScenario, type SimulatedTaskDefinition } from '../sim/task.js'
import { SimWorld } from '../sim/world.js'
import type { ChatProvider, CompletionRequest, CompletionResult } from './types.js'

export type { Scenario, SimExample, SimulatedTaskDefinition, SimWorld }

/** Where a simulated call's hidden ground truth is (CompletionRequest.simulation). */
export type SimulationRef = NonNullable<CompletionRequest['simulation']>

/** A simulated task's search settings: its reflection model and its prompt limits. */
export interface SimulatedSearch {
  proposer: Proposer
  maxSentences: number
  maxPromptTokens: number
}

/** A drift of a loaded scenario and when it started (null: not started). */
export interface DriftState {
  id: string
  kind: ScenarioDrift['kind']
  description: string | null
  /** Scheduled start after the simulation started, in ms (null: only when started by hand). */
  afterMs: number | null
  startedAt: Date | null
}

export class SimulationProvider implements ChatProvider {
  readonly id = 'simulation'
  readonly simulated = true
  private readonly worlds = new Map<string, SimWorld>()
  /** Task id → the world that simulates it. */
  private readonly byTask = new Map<string, SimWorld>()
  /** Worlds with model drifts applied, by scenario and drift ids. */
  private readonly drifted = new Map<string, SimWorld>()
  /** Drifts started by hand: scenario id → drift id → when. */
  private readonly started = new Map<string, Map<string, number>>()
  /** When the simulation started: scheduled drifts (`after`) count from here. */
  readonly startedAt: number
  private readonly fidelity: { fidelity?: number }

  constructor(scenarios: readonly Scenario[], options: { fidelity?: number; startedAt?: number } = {}) {
    this.startedAt = options.startedAt ?? Date.now()
    this.fidelity = options.fidelity === undefined ? {} : { fidelity: options.fidelity }
    for (const s of scenarios) {
      const world = new SimWorld(s, this.fidelity)
      const clash = this.byTask.get(s.task.id)
      if (clash)
        throw new KaizenError(
          'INVALID_INPUT',
          `scenarios "${clash.scenario.id}" and "${s.id}" both define task "${s.task.id}"; give each its own task.id`,
        )
      this.worlds.set(s.id, world)
      this.byTask.set(s.task.id, world)
    }
  }

  /** The provider for every scenario file in a folder (KAIZEN_SCENARIOS_DIR). */
  static async fromDirectory(dir: string, options: { fidelity?: number } = {}): Promise<SimulationProvider> {
    return new SimulationProvider([...(await loadScenarios(dir)).values()], options)
  }

  /** The loaded scenarios, by id. */
  get scenarios(): ReadonlyMap<string, Scenario> {
    return new Map([...this.worlds].map(([id, w]) => [id, w.scenario]))
  }

  /** A loaded scenario (NOT_FOUND names the loaded ones). */
  scenario(id: string): Scenario {
    return requireScenario(this.scenarios, id)
  }

  /** Every scenario's task, to register (db/queries/tasks.ts registerSimulatedTask). */
  tasks(): SimulatedTaskDefinition[] {
    return [...this.worlds.values()].map((w) => taskOfScenario(w.scenario))
  }

  /** Whether this provider simulates the task's model. */
  simulates(taskId: string): boolean {
    return this.byTask.has(taskId)
  }

  /**
   * The reference that lets this provider answer a task's case again, as the model answers now
   * (the model drifts in effect; null: not a simulated task).
   */
  refFor(taskId: string, exampleKey: string | null, at = Date.now()): SimulationRef | null {
    const world = this.byTask.get(taskId)
    return world && exampleKey !== null ? this.ref(world.scenario, exampleKey, at) : null
  }

  private ref(scenario: Scenario, exampleKey: string, at: number): SimulationRef {
    const drift = this.active(scenario, at).filter(changesModel)
    return { scenario: scenario.id, exampleKey, ...(drift.length > 0 ? { drift: drift.map((d) => d.id) } : {}) }
  }

  /** A simulated task's case: its input and known outcome, and the reference to answer it now. */
  caseFor(taskId: string, exampleKey: string, at = Date.now()): { example: SimExample; ref: SimulationRef } {
    const world = this.byTask.get(taskId)
    if (!world)
      throw new KaizenError('NOT_FOUND', `no loaded scenario simulates task "${taskId}" (scenarios: ${this.loaded()})`)
    return { example: world.example(exampleKey), ref: this.ref(world.scenario, exampleKey, at) }
  }

  /**
   * The key of the next live request of a scenario: as given, or drawn from the traffic mix in
   * effect (the latest traffic-mix drift started).
   */
  liveKey(scenarioId: string, key: string, at = Date.now()): string {
    const mix = this.active(this.world(scenarioId).scenario, at)
      .filter((d) => d.kind === 'traffic-mix')
      .at(-1)
    return mix ? mixedKey(key, mix.id) : key
  }

  /** When a drift started (null: not yet), by hand or on its schedule. */
  private startOf(scenario: Scenario, d: ScenarioDrift): number | null {
    const byHand = this.started.get(scenario.id)?.get(d.id)
    const after = driftAfterMs(d)
    const scheduled = after === null ? undefined : this.startedAt + after
    const starts = [byHand, scheduled].filter((t): t is number => t !== undefined)
    return starts.length === 0 ? null : Math.min(...starts)
  }

  /** A scenario's drifts in effect at a time, in the order they started. */
  private active(scenario: Scenario, at: number): ScenarioDrift[] {
    return scenario.drift
      .map((d) => ({ d, start: this.startOf(scenario, d) }))
      .filter((x): x is { d: ScenarioDrift; start: number } => x.start !== null && x.start <= at)
      .sort((a, b) => a.start - b.start)
      .map((x) => x.d)
  }

  /** A scenario's drifts and when each started. */
  drifts(scenarioId: string): DriftState[] {
    const scenario = this.world(scenarioId).scenario
    return scenario.drift.map((d) => {
      const start = this.startOf(scenario, d)
      return {
        id: d.id,
        kind: d.kind,
        description: d.description ?? null,
        afterMs: driftAfterMs(d),
        startedAt: start === null || start > Date.now() ? null : new Date(start),
      }
    })
  }

  /** Start a scenario's drift now (or at `at`); a drift already started keeps its first start. */
  startDrift(scenarioId: string, driftId: string, at = Date.now()): DriftState {
    const scenario = this.world(scenarioId).scenario
    const drift = scenario.drift.find((d) => d.id === driftId)
    if (!drift)
      throw new KaizenError(
        'NOT_FOUND',
        `scenario "${scenarioId}" has no drift "${driftId}" ` +
          `(its drifts: ${scenario.drift.map((d) => d.id).join(', ') || 'none; add them under drift:'})`,
      )
    const mine = this.started.get(scenarioId) ?? new Map<string, number>()
    if (!mine.has(driftId)) mine.set(driftId, at)
    this.started.set(scenarioId, mine)
    return this.drifts(scenarioId).find((d) => d.id === driftId) as DriftState
  }

  /** The world of a scenario with these model drifts applied. */
  private worldWith(scenarioId: string, drift: readonly string[] | undefined): SimWorld {
    const base = this.world(scenarioId)
    if (!drift || drift.length === 0) return base
    for (const id of drift) {
      if (!base.scenario.drift.some((d) => d.id === id && changesModel(d)))
        throw new KaizenError(
          'INVALID_INPUT',
          `scenario "${scenarioId}" has no model drift "${id}" ` +
            `(model drifts: ${
              base.scenario.drift
                .filter(changesModel)
                .map((d) => d.id)
                .join(', ') || 'none'
            })`,
        )
    }
    const key = `${scenarioId}\u0000${drift.join('\u0000')}`
    let world = this.drifted.get(key)
    if (!world) {
      world = new SimWorld(driftedScenario(base.scenario, drift), this.fidelity)
      this.drifted.set(key, world)
    }
    return world
  }

  /** A simulated task's search settings: its scenario's reflection model and prompt limits (null: not simulated). */
  searchFor(taskId: string): SimulatedSearch | null {
    const world = this.byTask.get(taskId)
    if (!world) return null
    const { maxClauses, maxPromptTokens } = world.scenario.task
    // The reflection model reads the model as it answers now (a silent update included).
    const drift = this.ref(world.scenario, '', Date.now()).drift
    const now = this.worldWith(world.scenario.id, drift)
    return { proposer: new SimulationProposer(now), maxSentences: maxClauses, maxPromptTokens }
  }

  private loaded(): string {
    return [...this.worlds.keys()].join(', ') || 'none'
  }

  supports(model: string): boolean {
    return model.startsWith('sim-')
  }

  /** A simulated model's price, from the first scenario that defines it. */
  price(model: string): { inputPerMTok: number; outputPerMTok: number } | null {
    for (const world of this.worlds.values()) {
      const m = world.scenario.models.find((x) => x.id === model)
      if (m) return m.price
    }
    return null
  }

  world(scenarioId: string): SimWorld {
    const world = this.worlds.get(scenarioId)
    if (!world) {
      throw new KaizenError(
        'NOT_FOUND',
        `the simulation provider has no scenario "${scenarioId}" (loaded: ${this.loaded()})`,
      )
    }
    return world
  }

  async complete(request: CompletionRequest): Promise<CompletionResult & { costUsd: number }> {
    request.signal?.throwIfAborted()
    if (!request.simulation) {
      throw new KaizenError(
        'INVALID_INPUT',
        `model "${request.model}" is simulated, but the request carries no simulation reference (scenario ` +
          `and example key); ` +
          'simulated models can only answer inputs generated from a scenario',
      )
    }
    const world = this.worldWith(request.simulation.scenario, request.simulation.drift)
    const model = world.model(request.model)
    const example = world.example(request.simulation.exampleKey)
    const promptText = request.messages.map((m) => `${m.role}: ${m.content}`).join('\n')
    // Few-shot turns: every user message before the last is a demonstration's input.
    const users = request.messages.filter((m) => m.role === 'user')
    const answer = world.respond(
      promptText,
      example,
      request.model,
      request.replicate ?? 0,
      users.slice(0, -1).map((m) => m.content),
    )
    if (answer.error) {
      // The draw is deterministic for this request: retrying cannot help, so it is not retryable.
      throw new KaizenError('PROVIDER_REJECTED', `[simulation] ${request.model} failed this request (simulated error)`)
    }
    const { inputTokens, outputTokens } = world.usage(request.model, promptText, answer.text)
    // Latency: log-normal around the tier's median, scaled mildly by the answer's length.
    const z = normalHash(world.scenario.seed, request.model, promptText, example.key, request.replicate ?? 0, 'latency')
    const latencyMs = Math.round(
      model.latencyMs.median * Math.exp(model.latencyMs.spread * z) * (0.75 + outputTokens / 800),
    )
    return {
      provider: this.id,
      model: request.model,
      text: answer.text,
      usage: { inputTokens, outputTokens },
      latencyMs,
      costUsd: costAt(model.price, { inputTokens, outputTokens }),
      simulated: true,
      simulation: {
        success: answer.success,
        probability: answer.probability,
        failureMode: answer.failureMode,
        feedback: answer.feedback,
      },
    }
  }
}
