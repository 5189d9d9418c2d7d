/**
 * @module runtime/providers
 * The providers a process can use, from its environment: the simulation provider always; OpenAI
 * when OPENAI_API_KEY or OPENAI_BASE_URL is set (a compatible server such as Ollama or vLLM needs
 * no key); Anthropic when ANTHROPIC_API_KEY is set. Limits and prices are per provider.
 */
import type { Env } from './env.js'
import { AnthropicProvider } from '../providers/anthropic.js'
import { OpenAIProvider, OPENAI_MODEL } from '../providers/openai.js'
import { Prices } from '../providers/prices.js'
import { ProviderRegistry } from '../providers/registry.js'
import type { SimulationProvider } from '../providers/simulation.js'
import type { ChatProvider } from '../providers/types.js'

type ProviderEnv = Pick<
  Env,
  | 'OPENAI_API_KEY'
  | 'OPENAI_BASE_URL'
  | 'ANTHROPIC_API_KEY'
  | 'ANTHROPIC_BASE_URL'
  | 'KAIZEN_PRICES_FILE'
  | 'KAIZEN_MODEL_TIMEOUT_MS'
  | 'KAIZEN_OPENAI_CONCURRENCY'
  | 'KAIZEN_OPENAI_TPM'
  | 'KAIZEN_ANTHROPIC_CONCURRENCY'
  | 'KAIZEN_ANTHROPIC_TPM'
>

export function providersFromEnv(env: ProviderEnv, simulation: SimulationProvider): ProviderRegistry {
  const prices = env.KAIZEN_PRICES_FILE ? Prices.fromFile(env.KAIZEN_PRICES_FILE) : new Prices()
  const list: ChatProvider[] = [simulation]
  if (env.ANTHROPIC_API_KEY) {
    list.push(
      new AnthropicProvider({
        apiKey: env.ANTHROPIC_API_KEY,
        ...(env.ANTHROPIC_BASE_URL ? { baseURL: env.ANTHROPIC_BASE_URL } : {}),
        prices,
        timeoutMs: env.KAIZEN_MODEL_TIMEOUT_MS,
      }),
    )
  }
  if (env.OPENAI_API_KEY || env.OPENAI_BASE_URL) {
    const compatible = Boolean(env.OPENAI_BASE_URL)
    list.push(
      new OpenAIProvider({
        apiKey: env.OPENAI_API_KEY ?? 'not-needed',
        ...(env.OPENAI_BASE_URL ? { baseURL: env.OPENAI_BASE_URL } : {}),
        prices,
        timeoutMs: env.KAIZEN_MODEL_TIMEOUT_MS,
        // A compatible server serves every model id that is not simulated or Anthropic's.
        serves: compatible
          ? (m) => !m.startsWith('sim-') && !m.startsWith('anthropic:') && !m.startsWith('claude-')
          : (m) => m.startsWith('openai:') || OPENAI_MODEL.test(m),
      }),
    )
  }
  return new ProviderRegistry(list, simulation, {
    limits: {
      openai: { concurrency: env.KAIZEN_OPENAI_CONCURRENCY, tokensPerMinute: env.KAIZEN_OPENAI_TPM ?? null },
      anthropic: { concurrency: env.KAIZEN_ANTHROPIC_CONCURRENCY, tokensPerMinute: env.KAIZEN_ANTHROPIC_TPM ?? null },
    },
    price: (model, at) => prices.of(model, at),
    priced: () => prices.models(),
  })
}
