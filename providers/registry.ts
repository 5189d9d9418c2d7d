/**
 * @module providers/registry
 * Picks the provider for a model id. Simulated models (`sim-*`) go to the simulation provider.
 */
import { KaizenError } from '../core/errors.js'
import type { SimulationProvider } from './simulation.js'
import type { ChatProvider } from './types.js'

export class ProviderRegistry {
  constructor(
    private readonly providers: readonly ChatProvider[],
    readonly simulation: SimulationProvider | null,
  ) {}

  resolve(model: string): ChatProvider {
    const provider = this.providers.find((p) => p.supports(model))
    if (!provider) {
      throw new KaizenError(
        'CONFIG_ERROR',
        `no configured provider serves model "${model}" (configured: ${this.providers.map((p) => p.id).join(', ') || 'none'}). ` +
          'Simulated models start with "sim-".',
      )
    }
    return provider
  }
}
