/**
 * @module providers/openai
 * OpenAI chat completions, and any server that speaks them (Ollama, vLLM, LM Studio…) through
 * OPENAI_BASE_URL. Structured output uses the `json_schema` response format (strict). The SDK's
 * own retries are off: providers/retry.ts retries, so every attempt is counted once.
 */
import type OpenAI from 'openai'
import { KaizenError } from '../core/errors.js'
import { SIM_FINGERPRINT } from '../core/simulation-label.js'
import { classifySdkError } from './http-errors.js'
import type { Prices } from './prices.js'
import { lazySdkClient } from './sdk-client.js'
import type { ChatProvider, CompletionRequest, CompletionResult } from './types.js'

export interface OpenAIProviderOptions {
  apiKey: string
  baseURL?: string
  prices: Prices
  timeoutMs?: number
  /** Which model ids this provider serves (default: see `supports`). */
  serves?: (model: string) => boolean
  id?: string
}

/** Model ids that are OpenAI's own; with a custom base URL every non-Anthropic, non-simulated id is served. */
export const OPENAI_MODEL = /^(gpt-|o[1-9]|chatgpt-|text-|davinci|babbage|ft:gpt)/

export class OpenAIProvider implements ChatProvider {
  readonly id: string
  readonly simulated = false
  /** The SDK client, loaded on the first call (a command that makes no model call never loads the SDK). */
  private readonly sdk: () => Promise<OpenAI>
  constructor(private readonly options: OpenAIProviderOptions) {
    this.id = options.id ?? 'openai'
    this.sdk = lazySdkClient(() => import('openai'), options)
  }

  supports(model: string): boolean {
    if (this.options.serves) return this.options.serves(model)
    return model.startsWith('openai:') || OPENAI_MODEL.test(model)
  }

  async complete(request: CompletionRequest): Promise<CompletionResult> {
    const model = request.model.replace(/^openai:/, '')
    const started = performance.now()
    const client = await this.sdk()
    let completion: OpenAI.Chat.Completions.ChatCompletion
    try {
      completion = await client.chat.completions.create(
        {
          model,
          messages: request.messages.map((m) => ({ role: m.role, content: m.content })),
          temperature: request.params.temperature,
          max_completion_tokens: request.params.maxTokens,
          ...(request.responseFormat
            ? {
                response_format: {
                  type: 'json_schema' as const,
                  json_schema: {
                    name: request.responseFormat.name,
                    schema: request.responseFormat.schema,
                    strict: true,
                    ...(request.responseFormat.description ? { description: request.responseFormat.description } : {}),
                  },
                },
              }
            : {}),
        },
        {
          ...(request.signal ? { signal: request.signal } : {}),
          ...(request.timeoutMs ? { timeout: request.timeoutMs } : {}),
        },
      )
    } catch (err) {
      throw classifySdkError(this.id, model, err, request.signal)
    }
    const latencyMs = Math.round(performance.now() - started)
    const choice = completion.choices?.[0]
    if (!choice)
      throw new KaizenError('PROVIDER_UNAVAILABLE', `${this.id} ${model}: the response has no choices`, {
        details: { provider: this.id, model },
      })
    if (choice.message.refusal) {
      throw new KaizenError(
        'PROVIDER_REJECTED',
        `${this.id} ${model} refused: ${choice.message.refusal.slice(0, 200)}`,
        { details: { provider: this.id, model, kind: 'refusal' } },
      )
    }
    const usage = {
      inputTokens: completion.usage?.prompt_tokens ?? 0,
      outputTokens: completion.usage?.completion_tokens ?? 0,
    }
    return {
      provider: this.id,
      model: request.model,
      text: choice.message.content ?? '',
      usage,
      latencyMs,
      costUsd: this.options.prices.cost(model, usage),
      // `kaizen sim serve` labels what it serves: its answers are recorded as simulated.
      simulated: completion.system_fingerprint === SIM_FINGERPRINT,
    }
  }
}
