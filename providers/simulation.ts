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
import type { Scenario } from '../sim/scenario.js'
import { DriftClock, mixedKey, type DriftState } from '../sim/drift.js'
import { taskOfScenario, type SimulatedTaskDefinition } from '../sim/task.js'
import { SimWorld } from '../sim/world.js'
import type { ChatProvider, CompletionRequest, CompletionResult } from './types.js'

export type { DriftState, Scenario, SimExample, SimulatedTaskDefinition, SimWorld }

/** Where a simulated call's hidden ground truth is (CompletionRequest.simulation). */
export type SimulationRef = NonNullable<CompletionRequest['simulation']>

/** A simulated task's search settings: its reflection model and its prompt limits. */
export interface SimulatedSearch {
  proposer: Proposer
  maxSentences: number
  maxPromptTokens: number
}

export class SimulationProvider implements ChatProvider {
  readonly id = 'simulation'
  readonly simulated = true
  private readonly worlds = new Map<string, SimWorld>()
  /** Task id → the world that simulates it. */
  private readonly byTask = new Map<string, SimWorld>()
  /** When each scenario's drift starts (scheduled from the simulation's start, or by hand). */
  private readonly clock: DriftClock

  constructor(scenarios: readonly Scenario[], options: { fidelity?: number; startedAt?: number } = {}) {
    const fidelity = options.fidelity === undefined ? {} : { fidelity: options.fidelity }
    this.clock = new DriftClock(options.startedAt ?? Date.now(), fidelity)
    for (const s of scenarios) {
      const world = new SimWorld(s, fidelity)
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
    const drift = this.clock.modelDrifts(scenario, at)
    return { scenario: scenario.id, exampleKey, ...(drift.length > 0 ? { drift } : {}) }
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
    const mix = this.clock
      .active(this.world(scenarioId).scenario, at)
      .filter((d) => d.kind === 'traffic-mix')
      .at(-1)
    return mix ? mixedKey(key, mix.id) : key
  }

  /** A scenario's drifts and when each started. */
  drifts(scenarioId: string): DriftState[] {
    return this.clock.states(this.world(scenarioId).scenario)
  }

  /** Start a scenario's drift now (or at `at`); a drift already started keeps its first start. */
  startDrift(scenarioId: string, driftId: string, at = Date.now()): DriftState {
    return this.clock.start(this.world(scenarioId).scenario, driftId, at)
  }

  /** A simulated task's search settings: its scenario's reflection model and prompt limits (null: not simulated). */
  searchFor(taskId: string): SimulatedSearch | null {
    const world = this.byTask.get(taskId)
    if (!world) return null
    const { maxClauses, maxPromptTokens } = world.scenario.task
    // The reflection model reads the model as it answers now (a silent update included).
    const now = this.clock.worldWith(world, this.clock.modelDrifts(world.scenario, Date.now()))
    return { proposer: new SimulationProposer(now), maxSentences: maxClauses, maxPromptTokens }
  }

  private loaded(): string {
    return [...this.worlds.keys()].join(', ') || 'none'
  }

  supports(model: string): boolean {
    return model.startsWith('sim-')
  }

  /** The simulated model tiers the loaded scenarios define. */
  models(): string[] {
    return [...new Set([...this.worlds.values()].flatMap((w) => w.scenario.models.map((m) => m.id)))]
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
    const world = this.clock.worldWith(this.world(request.simulation.scenario), request.simulation.drift)
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
