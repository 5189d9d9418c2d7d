/**
 * @module providers/anthropic
 * Anthropic messages (ANTHROPIC_BASE_URL for proxies and gateways). Structured output is a forced
 * tool call whose input schema is the requested JSON Schema; the tool input is the answer. The
 * SDK's own retries are off: providers/retry.ts retries, so every attempt is counted once.
 * `temperature` is not sent: the current Messages API deprecates it (the SDK no longer accepts it).
 */
import type Anthropic from '@anthropic-ai/sdk'
import { KaizenError } from '../core/errors.js'
import { SIM_HEADER } from '../core/simulation-label.js'
import { classifySdkError } from './http-errors.js'
import type { Prices } from './prices.js'
import { lazySdkClient } from './sdk-client.js'
import type { ChatProvider, CompletionRequest, CompletionResult } from './types.js'

export interface AnthropicProviderOptions {
  apiKey: string
  baseURL?: string
  prices: Prices
  timeoutMs?: number
  id?: string
}

export class AnthropicProvider implements ChatProvider {
  readonly id: string
  readonly simulated = false
  /** The SDK client, loaded on the first call (a command that makes no model call never loads the SDK). */
  private readonly sdk: () => Promise<Anthropic>
  constructor(private readonly options: AnthropicProviderOptions) {
    this.id = options.id ?? 'anthropic'
    this.sdk = lazySdkClient(() => import('@anthropic-ai/sdk'), options)
  }

  supports(model: string): boolean {
    return model.startsWith('anthropic:') || model.startsWith('claude-')
  }

  async complete(request: CompletionRequest): Promise<CompletionResult> {
    const model = request.model.replace(/^anthropic:/, '')
    const system = request.messages
      .filter((m) => m.role === 'system')
      .map((m) => m.content)
      .join('\n\n')
    const messages = request.messages
      .filter((m) => m.role !== 'system')
      .map((m) => ({ role: m.role as 'user' | 'assistant', content: m.content }))
    const format = request.responseFormat
    const started = performance.now()
    const client = await this.sdk()
    let message: Anthropic.Message
    let simulated = false
    try {
      const { data, response } = await client.messages
        .create(
          {
            model,
            max_tokens: request.params.maxTokens,
            messages,
            ...(system ? { system } : {}),
            ...(format
              ? {
                  tools: [
                    {
                      name: format.name,
                      description: format.description ?? `Return the answer as ${format.name}.`,
                      input_schema: format.schema as Anthropic.Tool.InputSchema,
                    },
                  ],
                  tool_choice: { type: 'tool' as const, name: format.name },
                }
              : {}),
          },
          {
            ...(request.signal ? { signal: request.signal } : {}),
            ...(request.timeoutMs ? { timeout: request.timeoutMs } : {}),
          },
        )
        .withResponse()
      message = data
      // `kaizen sim serve` labels every answer it gives (a simulated model, never a real one).
      simulated = response.headers.get(SIM_HEADER) === 'true'
    } catch (err) {
      throw classifySdkError(this.id, model, err, request.signal)
    }
    const latencyMs = Math.round(performance.now() - started)
    let text: string
    if (format) {
      const tool = message.content.find(
        (b): b is Anthropic.ToolUseBlock => b.type === 'tool_use' && b.name === format.name,
      )
      // No tool call: hand back the text; the caller's schema check reports it as unparseable.
      text = tool
        ? JSON.stringify(tool.input)
        : message.content.flatMap((b) => (b.type === 'text' ? [b.text] : [])).join('')
    } else {
      text = message.content.flatMap((b) => (b.type === 'text' ? [b.text] : [])).join('')
    }
    if (!Array.isArray(message.content))
      throw new KaizenError('PROVIDER_UNAVAILABLE', `${this.id} ${model}: malformed response`)
    const usage = { inputTokens: message.usage?.input_tokens ?? 0, outputTokens: message.usage?.output_tokens ?? 0 }
    return {
      provider: this.id,
      model: request.model,
      text,
      usage,
      latencyMs,
      costUsd: this.options.prices.cost(model, usage),
      simulated,
    }
  }
}
