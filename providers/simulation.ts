/**
 * @module providers/simulation
 * The built-in simulation provider: deterministic, prompt-sensitive answers driven by scenario
 * files (see sim/). Everything it returns is marked `simulated: true` and its model ids start
 * with `sim-`, so simulated results are never mistaken for a real model's.
 */
import { KaizenError } from '../core/errors.js'
import { approxTokens } from '../core/prompt.js'
import { normalHash } from '../lib/hash.js'
import { SimWorld } from '../sim/world.js'
import type { Scenario } from '../sim/scenario.js'
import type { ChatProvider, CompletionRequest, CompletionResult } from './types.js'

/** Rough token count (core/prompt.ts), re-exported where the providers and proposers have always found it. */
export { approxTokens }

export class SimulationProvider implements ChatProvider {
  readonly id = 'simulation'
  readonly simulated = true
  private readonly worlds = new Map<string, SimWorld>()

  constructor(scenarios: readonly Scenario[], options: { fidelity?: number } = {}) {
    for (const s of scenarios) this.worlds.set(s.id, new SimWorld(s, options))
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
        `the simulation provider has no scenario "${scenarioId}" (loaded: ` +
          `${[...this.worlds.keys()].join(', ') || 'none'})`,
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
    const world = this.world(request.simulation.scenario)
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
    const inputTokens = approxTokens(promptText)
    const outputTokens = approxTokens(answer.text)
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
      costUsd: (inputTokens * model.price.inputPerMTok + outputTokens * model.price.outputPerMTok) / 1e6,
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
