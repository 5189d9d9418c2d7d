/**
 * @module providers/registry
 * Picks the provider for a model id, and holds what is shared per provider in a worker process:
 * its limits (concurrency, tokens per minute) and prices.
 *
 * Routing: `sim-*` → the simulation provider; `claude-*` or `anthropic:<model>` → Anthropic;
 * `gpt-*`, `o1…o9*` or `openai:<model>` → OpenAI. With OPENAI_BASE_URL set (Ollama, vLLM…), every
 * other model id goes to that OpenAI-compatible server too.
 */
import { KaizenError } from '../core/errors.js'
import { ProviderLimiter } from './limiter.js'
import { costAt, type ModelPrice } from './prices.js'
import type { SimulationProvider } from './simulation.js'
import type { ChatProvider } from './types.js'

export interface ProviderLimits {
  concurrency: number
  tokensPerMinute: number | null
}

export class ProviderRegistry {
  private readonly limiters = new Map<string, ProviderLimiter>()

  constructor(
    private readonly providers: readonly ChatProvider[],
    readonly simulation: SimulationProvider | null,
    private readonly options: {
      limits?: Record<string, ProviderLimits>
      defaultLimits?: ProviderLimits
      price?: (model: string, at?: Date) => ModelPrice | null
      /** The model ids the price table has (for a "did you mean"). */
      priced?: () => readonly string[]
    } = {},
  ) {}

  get ids(): string[] {
    return this.providers.map((p) => p.id)
  }

  resolve(model: string): ChatProvider {
    const provider = this.providers.find((p) => p.supports(model))
    if (!provider) {
      throw new KaizenError(
        'CONFIG_ERROR',
        `no configured provider serves model "${model}" (configured: ` +
          `${this.providers.map((p) => p.id).join(', ') || 'none'}). ` +
          'Simulated models start with "sim-"; set OPENAI_API_KEY (and OPENAI_BASE_URL for a compatible ' +
          'server) or ANTHROPIC_API_KEY for real models.',
      )
    }
    return provider
  }

  /** Why no configured provider serves a model (which variable to set), or null when one does. */
  unservedReason(model: string): string | null {
    try {
      this.resolve(model)
      return null
    } catch (err) {
      return (err as Error).message
    }
  }

  /**
   * Refuse models no configured provider serves, each named by where it is configured
   * (`model`, `grader.judge.model`) with what to set; `then` says what was not done.
   */
  requireModels(models: ReadonlyArray<{ path: string; model: string }>, then = 'Nothing was applied.'): void {
    const problems = models.flatMap(({ path, model }) => {
      const why = this.unservedReason(model)
      return why ? [`${path}: ${why}`] : []
    })
    if (problems.length > 0)
      throw new KaizenError('CONFIG_ERROR', `${problems.join('\n')}\n${then}`, {
        details: { fields: models.map((m) => m.path) },
      })
  }

  /** The limiter of a provider (one per provider per process). */
  limiter(providerId: string): ProviderLimiter {
    let limiter = this.limiters.get(providerId)
    if (!limiter) {
      const limits = this.options.limits?.[providerId] ??
        this.options.defaultLimits ?? { concurrency: 16, tokensPerMinute: null }
      limiter = new ProviderLimiter(limits)
      this.limiters.set(providerId, limiter)
    }
    return limiter
  }

  /** Price of a model at a time (default now), when known (real models: the price table; simulated: the scenario's). */
  price(model: string, at?: Date): ModelPrice | null {
    if (model.startsWith('sim-') && this.simulation) return this.simulation.price(model)
    return this.options.price?.(model.replace(/^(openai|anthropic):/, ''), at) ?? null
  }

  /** The models with a known price: the simulated tiers, then the price table's entries. */
  knownModels(): string[] {
    return [...(this.simulation?.models() ?? []), ...(this.options.priced?.() ?? [])]
  }

  /** What a call cost at its time (USD), when its model has a price. */
  cost(model: string, usage: { inputTokens: number; outputTokens: number }, at?: Date): number | null {
    const p = this.price(model, at)
    return p ? costAt(p, usage) : null
  }
}
